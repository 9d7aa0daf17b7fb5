// gst-metered — LGPL-2.1-or-later
//
// Teardown under load: a headless Chromium page (the real SDK) sends its
// camera into a channel; teardown-cycles joins that channel with a
// MeteredSession, receives, leaves, METERED_TEARDOWN_CYCLES times (50) in
// one process, and checks fds and threads are back to where they were.
// Under the ASan build LeakSanitizer checks the memory at exit.
//
// argv: path to teardown-cycles.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, execFileSync } = require('child_process');
const {
  ts, log, live, requireEnv, checkNamespace, prepareWebRoot, startServer, stopServer,
  launchChromium, openPage,
} = require('../js/lib/interop.cjs');

const CYCLES = Number(process.env.METERED_TEARDOWN_CYCLES || 50);

async function main() {
  const exe = requireEnv('METERED_SERVER');
  const prog = process.argv[2];
  checkNamespace();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-teardown-'));
  let srv = null, ctx = null, ok = false;
  try {
    srv = startServer(exe, prepareWebRoot(tmp), tmp);
    const port = await srv.port;
    ctx = await launchChromium(tmp);
    const channel = `teardown-${process.pid}`;
    await openPage(ctx, `http://127.0.0.1:${port}/page.html?channel=${channel}`, 'sender', '&send=1');
    const token = execFileSync(exe, ['--mint-token', '--dev', '--sub', 'gst-teardown', '--ttl', '3600'])
      .toString().trim();
    const t0 = Date.now();
    const child = spawn(prog, [`ws://127.0.0.1:${port}`, token, channel, String(CYCLES)],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const code = await new Promise((r) => child.on('close', r));
    log(`teardown-cycles exited ${code} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const line = out.split('\n').find((l) => l.startsWith('CYCLES'));
    if (line) log(line);
    if (code !== 0) throw new Error(`teardown-cycles failed (exit ${code}):\n${out.slice(-4000)}`);
    ok = true;
  } catch (e) {
    console.error(`${ts()} FAIL: ${e && e.stack || e}`);
  } finally {
    if (ctx) await ctx.close().catch(() => {});
    if (srv) await stopServer(srv);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  log(ok ? 'PASS teardown cycles' : 'FAIL teardown cycles');
  return ok ? 0 : 1;
}

const guard = setTimeout(() => {
  console.error(`${ts()} FAIL: overall time limit (280 s) reached`);
  if (live.server && !live.server.exit) live.server.child.kill('SIGKILL');
  process.exit(1);
}, 280000);
main().then((rc) => { clearTimeout(guard); process.exit(rc); },
  (e) => { console.error(`${ts()} FAIL: ${e && e.stack || e}`); process.exit(1); });
