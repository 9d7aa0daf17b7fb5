// gst-metered — LGPL-2.1-or-later
//
// Browser <-> browser interop through metered-server, with the real
// @metered-ca/realtime SDK (its UMD bundle) in two headless Chromium pages.
//
// Runs inside the private network namespace made by netns-run.sh (meson does
// `netns-run.sh node browser-interop.cjs`), so ICE can only use the veth pair
// 10.99.0.1 / 10.99.0.2; this script checks that before it starts anything.
//
//   1. copies tests/browser/www/page.html and the SDK's dist/index.umd.js
//      (from the npm install in NODE_PATH) into a temporary web root;
//   2. starts $METERED_SERVER --dev --port 0 --port-file F --web-root DIR
//      --ip-connect-limit 0 (it binds 127.0.0.1);
//   3. opens page B (receiver) and page A (fake camera, addStream with
//      metadata {role:'camera'}) in Debian's /usr/bin/chromium via
//      playwright-core, both joining one channel on ws://127.0.0.1:PORT;
//   4. passes when B reports decoded video frames (getStats inbound-rtp
//      framesDecoded > 0) and a `stream-added` event carrying the metadata,
//      and the selected ICE pair on both pages uses 10.99.0.x addresses;
//   5. stops the server with SIGTERM and requires exit status 0.
//
// Environment (tests/meson.build js_env): NODE_PATH, METERED_SERVER,
// METERED_SOURCE_ROOT. Optional: METERED_BROWSER_TIMEOUT_S (default 60).
// Exit: 0 pass, 1 fail, 77 skip (only outside CI, only when chromium or
// playwright-core is truly absent).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const {
  CHROMIUM, WAIT_S, ts, log, live, skipOrFail, requireEnv, checkNamespace, prepareWebRoot,
  startServer, stopServer, summarize, launchChromium, openPage, pairProblems,
} = require('../js/lib/interop.cjs');

async function main() {
  const exe = requireEnv('METERED_SERVER');
  requireEnv('NODE_PATH');
  if (!fs.existsSync(CHROMIUM)) skipOrFail(`${CHROMIUM} not installed (Debian package chromium)`);
  try {
    require.resolve('playwright-core');
    require.resolve('@metered-ca/realtime');
  } catch (e) {
    skipOrFail(`npm packages missing in NODE_PATH=${process.env.NODE_PATH} ` +
      `(scripts/run-tests.sh installs them): ${e.message.split('\n')[0]}`);
  }
  checkNamespace();

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-browser-'));
  let srv = null;
  let ctx = null;
  let ok = false;
  try {
    const webRoot = prepareWebRoot(tmp);
    srv = startServer(exe, webRoot, tmp);
    const port = await srv.port;
    log(`metered-server listening on 127.0.0.1:${port}`);

    ctx = await launchChromium(tmp);

    const channel = `browser-interop-${process.pid}`;
    const base = `http://127.0.0.1:${port}/page.html?channel=${encodeURIComponent(channel)}`;
    const pages = {};
    pages.B = await openPage(ctx, base, 'B', '');
    const tSend = Date.now();
    pages.A = await openPage(ctx, base, 'A', '&send=1');
    const [pageA, pageB] = [pages.A, pages.B];
    const tJoined = Date.now();

    // Wait for decoded frames, the stream-added metadata and a selected pair.
    const deadline = tSend + WAIT_S * 1000;
    let firstFrameAt = null;
    let lastPrint = 0;
    let statsA = {};
    let statsB = {};
    let streamAdded = null;
    for (;;) {
      [statsA, statsB] = await Promise.all([pageA, pageB].map((p) => p.evaluate(() => window.interop.stats())));
      const eventsB = await pageB.evaluate(() => window.interop.events);
      streamAdded = eventsB.find((e) => e.name === 'stream-added') || null;
      const decoded = Math.max(0, ...Object.values(statsB).map((r) => r.framesDecoded));
      if (decoded > 0 && !firstFrameAt) {
        firstFrameAt = Date.now();
        log(`first decoded frame on page B: time-to-first-frame ${((firstFrameAt - tSend) / 1000).toFixed(2)} s ` +
          `after the sender page opened (${((firstFrameAt - tJoined) / 1000).toFixed(2)} s after both joined)`);
      }
      const pairsReady = [statsA, statsB].every((s) => Object.values(s).some((r) => r.pair));
      if (firstFrameAt && streamAdded && pairsReady) break;
      if (Date.now() - lastPrint > 2000) {
        lastPrint = Date.now();
        log(`waiting: A {${summarize(statsA)}} B {${summarize(statsB)}} stream-added=${!!streamAdded}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`no success within ${WAIT_S} s: frames decoded on B=${decoded}, ` +
          `stream-added=${JSON.stringify(streamAdded)}, A {${summarize(statsA)}} B {${summarize(statsB)}}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }

    log(`A: ${summarize(statsA)}`);
    log(`B: ${summarize(statsB)}`);
    const problems = [];
    const md = streamAdded.metadata;
    if (!md || md.role !== 'camera') {
      problems.push(`stream-added on B carried metadata ${JSON.stringify(md)}, expected {role:'camera',...}`);
    } else {
      log(`stream-added on B: stream ${streamAdded.streamId} metadata ${JSON.stringify(md)}`);
    }
    problems.push(...pairProblems('A', statsA), ...pairProblems('B', statsB));
    for (const [name, page] of Object.entries(pages)) {
      const errs = await page.evaluate(() => window.interop.errors);
      if (errs.length) problems.push(`page ${name} errors: ${errs.join(' | ')}`);
    }
    if (problems.length) throw new Error(problems.join('\n'));
    ok = true;
  } catch (e) {
    console.error(`${ts()} FAIL: ${e && e.stack || e}`);
  } finally {
    if (ctx) await ctx.close().catch((e) => console.error(`chromium close: ${e}`));
    if (srv) {
      const exit = await stopServer(srv);
      if (!exit || exit.code !== 0) {
        console.error(`${ts()} FAIL: metered-server did not exit 0 on SIGTERM: ${JSON.stringify(exit)}`);
        ok = false;
      }
      if (!ok || process.env.METERED_BROWSER_VERBOSE) {
        console.error('---- metered-server output ----\n' + srv.output.trimEnd() + '\n---- end ----');
      }
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  log(ok ? 'PASS browser interop' : 'FAIL browser interop');
  return ok ? 0 : 1;
}

// Hard bound well inside meson's 180 s timeout, so a hang still prints why.
const guard = setTimeout(() => {
  console.error(`${ts()} FAIL: overall time limit (150 s) reached`);
  if (live.server && !live.server.exit) {
    live.server.child.kill('SIGKILL');
    console.error('---- metered-server output ----\n' + live.server.output.trimEnd() + '\n---- end ----');
  }
  process.exit(1);
}, 150000);
main().then((rc) => { clearTimeout(guard); process.exit(rc); },
  (e) => { console.error(`${ts()} FAIL: ${e && e.stack || e}`); process.exit(1); });
