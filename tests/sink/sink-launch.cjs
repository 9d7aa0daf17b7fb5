// gst-metered — LGPL-2.1-or-later
//
// The README's command, exactly as written, against metered-server --dev on
// port 8080 (inside netns-run.sh's namespace, so the port is free):
//
//   gst-launch-1.0 videotestsrc is-live=true ! meteredsink \
//       url=ws://127.0.0.1:8080 api-key=pk_dev_local channel=demo
//
// Passes when a browser page running the real SDK in channel demo decodes
// the video and gets stream-added, and gst-launch-1.0 stops cleanly on
// SIGINT without having printed an error.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const {
  ts, log, live, requireEnv, checkNamespace, prepareWebRoot, startServer, stopServer,
  launchChromium, openPage, summarize,
} = require('../js/lib/interop.cjs');
const { decoded, streamAdded, waitFor } = require('./sink-lib.cjs');

const COMMAND = ['videotestsrc', 'is-live=true', '!', 'meteredsink',
  'url=ws://127.0.0.1:8080', 'api-key=pk_dev_local', 'channel=demo'];

async function main() {
  const exe = requireEnv('METERED_SERVER');
  requireEnv('GST_PLUGIN_PATH');
  checkNamespace();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-sink-launch-'));
  let srv = null, ctx = null, launch = null, ok = false;
  try {
    srv = startServer(exe, prepareWebRoot(tmp), tmp, 8080);
    await srv.port;
    log(`gst-launch-1.0 ${COMMAND.join(' ')}`);
    const env = { ...process.env };
    if (process.env.SINK_ASAN_PRELOAD) {
      // AddressSanitizer build: gst-launch-1.0 is not instrumented; what it
      // leaks itself is not ours to judge (the plugin's leaks are checked
      // by the C tests).
      env.LD_PRELOAD = process.env.SINK_ASAN_PRELOAD;
      env.ASAN_OPTIONS = 'detect_leaks=0';
    }
    const child = spawn('gst-launch-1.0', COMMAND, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    launch = { child, output: '' };
    child.stdout.on('data', (d) => { launch.output += d.toString(); });
    child.stderr.on('data', (d) => { launch.output += d.toString(); });
    launch.exited = new Promise((r) => child.on('close', (code, signal) => r({ code, signal })));

    ctx = await launchChromium(tmp);
    const page = await openPage(ctx, 'http://127.0.0.1:8080/page.html?channel=demo', 'viewer', '');
    const t0 = Date.now();
    await waitFor(async () => `decoded video (viewer {${summarize(await page.evaluate(() => window.interop.stats()))}})\n` +
      `gst-launch output:\n${launch.output.slice(-3000)}`, 60,
    async () => (await decoded(page)) >= 30 && (await streamAdded(page)).length > 0);
    log(`viewer decoded ${await decoded(page)} frames, ${((Date.now() - t0) / 1000).toFixed(2)} s after joining`);

    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
    const exit = await launch.exited;
    clearTimeout(timer);
    log(`gst-launch-1.0 exited ${JSON.stringify(exit)} after SIGINT`);
    if (exit.signal === 'SIGKILL') throw new Error('gst-launch-1.0 did not stop within 15 s of SIGINT');
    if (/ERROR/.test(launch.output)) throw new Error(`gst-launch-1.0 printed an error:\n${launch.output}`);
    ok = true;
  } catch (e) {
    console.error(`${ts()} FAIL: ${e && e.stack || e}`);
    if (launch) console.error(`---- gst-launch-1.0 output ----\n${launch.output.slice(-5000)}`);
  } finally {
    if (launch && launch.child.exitCode === null) launch.child.kill('SIGKILL');
    if (ctx) await ctx.close().catch(() => {});
    if (srv) await stopServer(srv);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  log(ok ? 'PASS gst-launch-1.0 ... ! meteredsink' : 'FAIL gst-launch-1.0 ... ! meteredsink');
  return ok ? 0 : 1;
}

const guard = setTimeout(() => {
  console.error(`${ts()} FAIL: overall time limit (85 s) reached`);
  if (live.server && !live.server.exit) live.server.child.kill('SIGKILL');
  process.exit(1);
}, 85000);
main().then((rc) => { clearTimeout(guard); process.exit(rc); },
  (e) => { console.error(`${ts()} FAIL: ${e && e.stack || e}`); process.exit(1); });
