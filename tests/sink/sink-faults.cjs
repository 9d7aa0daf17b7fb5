// gst-metered — LGPL-2.1-or-later
//
// meteredsink through signalling faults, with two browser viewers (real
// SDK, headless Chromium) decoding its video, inside netns-run.sh's
// namespace:
//   1. the element's signalling socket is dropped (admin drop, code 1011),
//   2. metered-server is SIGKILLed and restarted on the same port after 1 s.
// After each fault both viewers must decode again (60 more frames each,
// within the bound), and through all of it the pipeline upstream of the
// element must never stop: the identity before the element sees no gap of
// 1 s or more, and the element posts no error. The longest stall each
// viewer saw is printed: a figure, not an assertion.
//
// argv: path to metered-sink-tool.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const {
  ts, log, live, requireEnv, checkNamespace, prepareWebRoot, startServer, stopServer,
  launchChromium, openPage,
} = require('../js/lib/interop.cjs');
const {
  mint, admin, startTool, stopTool, waitFor, progress, sleep,
} = require('./sink-lib.cjs');

const RECOVER_S = Number(process.env.METERED_FAULT_RECOVER_S || 30);

async function main() {
  const exe = requireEnv('METERED_SERVER');
  const tool = process.argv[2];
  checkNamespace();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-sink-faults-'));
  let srv = null, ctx = null, gst = null, lastGst = null, ok = false;
  const stalls = {};
  try {
    const webRoot = prepareWebRoot(tmp);
    srv = startServer(exe, webRoot, tmp);
    const port = await srv.port;
    ctx = await launchChromium(tmp);
    const channel = `sink-faults-${process.pid}`;
    const base = `http://127.0.0.1:${port}/page.html?channel=${channel}`;
    gst = startTool(tool, ['--url', `ws://127.0.0.1:${port}`, '--token', mint(exe, 'a-gst'),
      '--channel', channel, '--metadata', 'meta,role=camera', '--duration', '80',
      '--status-ms', '100']);
    lastGst = gst;
    const pages = [
      await openPage(ctx, base, 'v1', `&token=${mint(exe, 'm-view1')}`),
      await openPage(ctx, base, 'v2', `&token=${mint(exe, 'm-view2')}`),
    ];
    stalls.start = await progress(pages, 60, RECOVER_S, 'initial connection');
    log(`both viewers decode; gst ${JSON.stringify(gst.status)}`);

    log('fault 1: drop the element\'s signalling socket');
    const connected = gst.events.filter((e) => e.name === 'metered/connected').length;
    if (await admin(port, 'POST', '/v1/peers/a-gst/drop?code=1011') !== 204) throw new Error('drop a-gst');
    await waitFor('the element to reconnect', RECOVER_S,
      () => gst.events.filter((e) => e.name === 'metered/connected').length > connected);
    stalls.drop = await progress(pages, 60, RECOVER_S, 'element socket dropped');
    log(`recovered from the drop (longest viewer stalls ${stalls.drop.join(', ')} ms)`);

    log('fault 2: SIGKILL metered-server, restart it on the same port');
    srv.child.kill('SIGKILL');
    await srv.exited;
    await sleep(1000);
    srv = startServer(exe, webRoot, tmp, port);
    await srv.port;
    stalls.restart = await progress(pages, 60, RECOVER_S, 'server restarted');
    log(`recovered from the restart (longest viewer stalls ${stalls.restart.join(', ')} ms)`);

    await sleep(500);
    const st = gst.status;
    log(`STALLS ${JSON.stringify(stalls)}`);
    log(`element: ${st.buffers} buffers upstream, longest gap ${st.maxGapMs} ms, state ${st.state}, ` +
      `${st.peers} peers, key units ${st.keyUnitsSent} sent of ${st.keyUnitsRequested} requested`);
    if (gst.errors.length) throw new Error(`element errors: ${JSON.stringify(gst.errors)}`);
    if (st.maxGapMs >= 1000) throw new Error(`upstream stalled ${st.maxGapMs} ms`);
    if (st.state !== 'connected') throw new Error(`element signalling state ${st.state}`);
    for (const p of pages) await p.close();
    const exit = await stopTool(gst);
    gst = null;
    // A clean stop (under AddressSanitizer: no leak either).
    if (exit.code !== 0) throw new Error(`metered-sink-tool exited ${JSON.stringify(exit)}`);
    ok = true;
  } catch (e) {
    console.error(`${ts()} FAIL: ${e && e.stack || e}`);
    if (lastGst) console.error(`---- gst output (tail) ----\n${lastGst.output.slice(-6000)}`);
  } finally {
    if (gst) await stopTool(gst);
    if (ctx) await ctx.close().catch(() => {});
    if (srv) await stopServer(srv);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  log(ok ? 'PASS meteredsink faults' : 'FAIL meteredsink faults');
  return ok ? 0 : 1;
}

const guard = setTimeout(() => {
  console.error(`${ts()} FAIL: overall time limit (110 s) reached`);
  if (live.server && !live.server.exit) live.server.child.kill('SIGKILL');
  process.exit(1);
}, 110000);
main().then((rc) => { clearTimeout(guard); process.exit(rc); },
  (e) => { console.error(`${ts()} FAIL: ${e && e.stack || e}`); process.exit(1); });
