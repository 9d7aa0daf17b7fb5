// gst-metered — LGPL-2.1-or-later
//
// meteredsink (in metered-sink-tool: a live test pattern through an
// identity into the element) and receive-only browser viewers running the
// real @metered-ca/realtime SDK in headless Chromium, through
// metered-server, inside netns-run.sh's namespace. For the element polite
// (peerId a-gst) and impolite (z-gst) towards the viewers (m-view1..3):
//   1. one viewer decodes the video, and its stream-added event carries
//      the element's stream-metadata {role:'camera', label:'gst'};
//   2. two more viewers join: all three decode (the first one keeps
//      decoding while they join);
//   3. the first viewer leaves: the element sees it go and the other two
//      keep decoding;
//   4. the element never posted an error and its upstream never stalled
//      (longest gap between two buffers at the identity < 1 s);
// then, with video-codec=h264, a viewer decodes H.264.
//
// argv: path to metered-sink-tool. Env as tests/sink/meson.build.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const {
  ts, log, live, requireEnv, checkNamespace, prepareWebRoot, startServer, stopServer,
  launchChromium, openPage,
} = require('../js/lib/interop.cjs');
const {
  mint, startTool, stopTool, decoded, streamAdded, waitFor, progress,
} = require('./sink-lib.cjs');

async function scenario(ctx, exe, tool, port, gstId) {
  const channel = `sink-browser-${gstId}-${process.pid}`;
  const base = `http://127.0.0.1:${port}/page.html?channel=${channel}`;
  log(`--- element ${gstId} (${gstId < 'm' ? 'polite' : 'impolite'} towards the viewers)`);
  const gst = startTool(tool, ['--url', `ws://127.0.0.1:${port}`, '--token', mint(exe, gstId),
    '--channel', channel, '--metadata', 'meta,role=camera,label=gst', '--duration', '80',
    '--status-ms', '200']);
  const pages = [];
  try {
    await waitFor('the element to connect', 20,
      () => gst.events.some((e) => e.name === 'metered/connected'));

    // 1. one viewer
    const t0 = Date.now();
    pages.push(await openPage(ctx, base, 'v1', `&token=${mint(exe, 'm-view1')}`));
    await waitFor(async () => `viewer 1 to decode (decoded ${await decoded(pages[0])}, ` +
      `gst ${JSON.stringify(gst.status)})`, 30,
    async () => (await decoded(pages[0])) > 0 && (await streamAdded(pages[0])).length > 0);
    const added = (await streamAdded(pages[0]))[0];
    log(`viewer 1 decodes ${((Date.now() - t0) / 1000).toFixed(2)} s after joining; ` +
      `stream-added ${JSON.stringify(added)}`);
    if (!added.metadata || added.metadata.role !== 'camera' || added.metadata.label !== 'gst') {
      throw new Error(`stream-added carried ${JSON.stringify(added.metadata)}, ` +
        'expected {role:"camera",label:"gst"}');
    }

    // 2. three viewers
    pages.push(await openPage(ctx, base, 'v2', `&token=${mint(exe, 'm-view2')}`));
    pages.push(await openPage(ctx, base, 'v3', `&token=${mint(exe, 'm-view3')}`));
    const stalls = await progress(pages, 60, 30, 'three viewers');
    log(`three viewers decode (longest stalls ${stalls.join(', ')} ms); gst ${JSON.stringify(gst.status)}`);
    if (gst.status.peers !== 3) throw new Error(`element sees ${gst.status.peers} peers, expected 3`);

    // 3. one leaves
    await pages.shift().close();
    await waitFor(() => `the element to see viewer 1 leave (gst ${JSON.stringify(gst.status)})`, 20,
      () => gst.status && gst.status.peers === 2);
    const after = await progress(pages, 60, 20, 'two viewers after one left');
    log(`viewer 1 left; the other two keep decoding (longest stalls ${after.join(', ')} ms)`);

    // 4. upstream and errors
    const st = gst.status;
    log(`element: ${st.buffers} buffers upstream, longest gap ${st.maxGapMs} ms, key units ` +
      `${st.keyUnitsSent} sent of ${st.keyUnitsRequested} requested`);
    if (gst.errors.length) throw new Error(`element errors: ${JSON.stringify(gst.errors)}`);
    if (st.maxGapMs >= 1000) throw new Error(`upstream stalled ${st.maxGapMs} ms`);
    if (!(st.keyUnitsSent >= 1)) throw new Error('no key unit was ever asked for');
  } catch (e) {
    e.message += `\ngst output (tail):\n${gst.output.slice(-4000)}`;
    throw e;
  } finally {
    for (const p of pages) await p.close().catch(() => {});
    gst.exit = await stopTool(gst);
  }
  // A clean stop (under AddressSanitizer: no leak either).
  if (gst.exit.code !== 0) {
    throw new Error(`metered-sink-tool exited ${JSON.stringify(gst.exit)}:\n${gst.output.slice(-6000)}`);
  }
}

// video-codec=h264 (openh264enc, constrained baseline): a viewer decodes
// H.264.
async function h264(ctx, exe, tool, port) {
  const channel = `sink-browser-h264-${process.pid}`;
  const base = `http://127.0.0.1:${port}/page.html?channel=${channel}`;
  log('--- element a-gst, video-codec=h264');
  const gst = startTool(tool, ['--url', `ws://127.0.0.1:${port}`, '--token', mint(exe, 'a-gst'),
    '--channel', channel, '--video-codec', 'h264', '--duration', '40', '--status-ms', '200']);
  let page = null;
  try {
    page = await openPage(ctx, base, 'v1', `&token=${mint(exe, 'm-view1')}`);
    await progress([page], 60, 30, 'H.264 viewer');
    const stats = await page.evaluate(() => window.interop.stats());
    const codecs = Object.values(stats).map((r) => r.codec).filter((c) => c);
    log(`viewer decodes ${codecs.join(', ')}`);
    if (!codecs.includes('video/H264')) throw new Error(`viewer decodes ${JSON.stringify(codecs)}, expected video/H264`);
    if (gst.errors.length) throw new Error(`element errors: ${JSON.stringify(gst.errors)}`);
  } catch (e) {
    e.message += `\ngst output (tail):\n${gst.output.slice(-4000)}`;
    throw e;
  } finally {
    if (page) await page.close().catch(() => {});
    gst.exit = await stopTool(gst);
  }
  if (gst.exit.code !== 0) {
    throw new Error(`metered-sink-tool exited ${JSON.stringify(gst.exit)}:\n${gst.output.slice(-6000)}`);
  }
}

async function main() {
  const exe = requireEnv('METERED_SERVER');
  const tool = process.argv[2];
  if (!tool || !fs.existsSync(tool)) throw new Error('usage: sink-browser.cjs PATH/TO/metered-sink-tool');
  checkNamespace();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-sink-browser-'));
  let srv = null, ctx = null, ok = false;
  try {
    srv = startServer(exe, prepareWebRoot(tmp), tmp);
    const port = await srv.port;
    ctx = await launchChromium(tmp);
    await scenario(ctx, exe, tool, port, 'a-gst');
    await scenario(ctx, exe, tool, port, 'z-gst');
    await h264(ctx, exe, tool, port);
    ok = true;
  } catch (e) {
    console.error(`${ts()} FAIL: ${e && e.stack || e}`);
  } finally {
    if (ctx) await ctx.close().catch(() => {});
    if (srv) {
      const exit = await stopServer(srv);
      if (!ok || !exit || exit.code !== 0) console.error('---- metered-server output ----\n' + srv.output.trimEnd().slice(-4000));
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  log(ok ? 'PASS meteredsink <-> browsers' : 'FAIL meteredsink <-> browsers');
  return ok ? 0 : 1;
}

const guard = setTimeout(() => {
  console.error(`${ts()} FAIL: overall time limit (110 s) reached`);
  if (live.server && !live.server.exit) live.server.child.kill('SIGKILL');
  process.exit(1);
}, 110000);
main().then((rc) => { clearTimeout(guard); process.exit(rc); },
  (e) => { console.error(`${ts()} FAIL: ${e && e.stack || e}`); process.exit(1); });
