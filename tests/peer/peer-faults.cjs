// gst-metered — LGPL-2.1-or-later
//
// Media through signalling faults: a MeteredSession (C) and a headless
// Chromium page running the real SDK send to each other through
// metered-server inside netns-run.sh's namespace, while
//   1. the C side's signalling socket is dropped (admin drop),
//   2. the browser's signalling socket is dropped,
//   3. metered-server is SIGKILLed and restarted on the same port.
//   4. the media path is cut for 5 s: every address of the namespace's
//      veth pair is removed and put back (signalling on 127.0.0.1 stays up).
// After each fault media must flow again both ways (>= 30 new frames on
// each side within the bound). The longest gap in each direction is
// printed: it is a figure, not an assertion (timing belongs in bench/).
//
// argv: path to metered-peer-tool.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, execFileSync } = require('child_process');
const {
  ts, log, live, requireEnv, checkNamespace, prepareWebRoot, startServer, stopServer,
  summarize, launchChromium, openPage,
} = require('../js/lib/interop.cjs');

const RECOVER_S = Number(process.env.METERED_FAULT_RECOVER_S || 45);

function mint(exe, sub) {
  return execFileSync(exe, ['--mint-token', '--dev', '--sub', sub, '--ttl', '3600'])
    .toString().trim();
}

async function admin(port, method, p) {
  const r = await fetch(`http://127.0.0.1:${port}${p}`, {
    method, headers: { Authorization: 'Bearer admin_dev_local' },
  });
  return r.status;
}

function startTool(tool, args) {
  const child = spawn(tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const t = { child, received: 0, output: '', events: [] };
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        const e = JSON.parse(line);
        if (e.event === 'status') t.received = e.framesReceived;
        else { t.events.push(e); log(`[gst] ${line}`); }
      } catch (_) { /* not JSON */ }
    }
  });
  child.stderr.on('data', (d) => { t.output = (t.output + d.toString()).slice(-20000); });
  t.exited = new Promise((r) => child.on('close', (code) => r(code)));
  return t;
}

// Total frames the browser decoded from its remote peers. A swapped
// connection restarts its counter, so progress is any change to a
// non-zero total.
async function browserDecoded(page) {
  const stats = await page.evaluate(() => window.interop.stats());
  return { total: Object.values(stats).reduce((a, r) => a + (r.framesDecoded || 0), 0), stats };
}

// Watches both directions until each made `need` frames of progress after
// the fault; returns the longest stall of each direction in ms.
async function recover(page, gst, what, need = 30) {
  const t0 = Date.now();
  let b = await browserDecoded(page);
  let bLast = b.total, bProgress = 0, bStall = 0, bAt = t0;
  let gLast = gst.received, gProgress = 0, gStall = 0, gAt = t0;
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const now = Date.now();
    b = await browserDecoded(page);
    if (b.total !== bLast && b.total > 0) {
      bStall = Math.max(bStall, now - bAt);
      bProgress += b.total > bLast ? b.total - bLast : b.total;
      bLast = b.total;
      bAt = now;
    }
    if (gst.received !== gLast) {
      gStall = Math.max(gStall, now - gAt);
      gProgress += gst.received - gLast;
      gLast = gst.received;
      gAt = now;
    }
    if (bProgress >= need && gProgress >= need) break;
    if (now - t0 > RECOVER_S * 1000) {
      throw new Error(`${what}: media did not recover within ${RECOVER_S} s: browser +${bProgress} ` +
        `frames {${summarize(b.stats)}}, C side +${gProgress} frames\n` +
        `gst stderr tail:\n${gst.output.slice(-4000)}`);
    }
  }
  log(`${what}: recovered; longest gap browser<-C ${bStall} ms, C<-browser ${gStall} ms`);
  return { browser: bStall, gst: gStall };
}

async function main() {
  const exe = requireEnv('METERED_SERVER');
  const tool = process.argv[2];
  checkNamespace();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-peer-faults-'));
  let srv = null, ctx = null, gst = null, ok = false;
  const gaps = {};
  try {
    const webRoot = prepareWebRoot(tmp);
    srv = startServer(exe, webRoot, tmp);
    const port = await srv.port;
    ctx = await launchChromium(tmp);
    const channel = `peer-faults-${process.pid}`;
    const base = `http://127.0.0.1:${port}/page.html?channel=${channel}`;
    const page = await openPage(ctx, base, 'browser', `&send=1&token=${mint(exe, 'm-browser')}`);
    gst = startTool(tool, ['--url', `ws://127.0.0.1:${port}`, '--token', mint(exe, 'a-gst'),
      '--channel', channel, '--send', '--recv', '--duration', '200', '--status-ms', '100',
      '--dead-peer-timeout', '10000']);
    gaps.start = await recover(page, gst, 'initial connection');

    log('fault 1: drop the C side signalling socket');
    if (await admin(port, 'POST', '/v1/peers/a-gst/drop?code=1011') !== 204) throw new Error('drop a-gst');
    gaps.dropC = await recover(page, gst, 'C side socket dropped');

    log('fault 2: drop the browser signalling socket');
    if (await admin(port, 'POST', '/v1/peers/m-browser/drop?code=1011') !== 204) throw new Error('drop m-browser');
    gaps.dropBrowser = await recover(page, gst, 'browser socket dropped');

    log('fault 3: SIGKILL metered-server, restart on the same port');
    srv.child.kill('SIGKILL');
    await srv.exited;
    await new Promise((r) => setTimeout(r, 1000));
    srv = startServer(exe, webRoot, tmp, port);
    await srv.port;
    gaps.serverRestart = await recover(page, gst, 'server restarted');

    log('fault 4: cut the media path for 5 s (veth addresses removed)');
    const ip = (...args) => execFileSync('ip', args);
    ip('addr', 'flush', 'dev', 'v0');
    ip('addr', 'flush', 'dev', 'v1');
    await new Promise((r) => setTimeout(r, 5000));
    ip('addr', 'add', '10.99.0.1/24', 'dev', 'v0');
    ip('addr', 'add', '10.99.0.2/24', 'dev', 'v1');
    gaps.mediaPathCut = await recover(page, gst, 'media path restored');

    // The remote peer's state as an application sees it: a replaced
    // connection shows connected -> reconnecting -> connected, never a
    // second "connecting" hop.
    const states = gst.events.filter((e) => e.event === 'peer-state');
    const firstConnected = states.findIndex((e) => e.to === 'connected');
    if (firstConnected < 0) throw new Error(`the remote peer never reached connected: ${JSON.stringify(states)}`);
    const hops = states.slice(firstConnected + 1).filter((e) => e.to === 'connecting');
    if (hops.length) throw new Error(`connecting hop visible after a swap: ${JSON.stringify(states)}`);
    const resets = gst.events.filter((e) => e.event === 'connection-reset').length;
    if (resets < 3) throw new Error(`expected a connection-reset for each signalling fault, got ${resets}`);
    log(`remote peer states: ${states.map((e) => e.to).join(' -> ')}; ${resets} connection resets`);

    // The session's own state: each drop of our socket shows reconnecting
    // and then joined again; nothing is reported as an error.
    const sstates = gst.events.filter((e) => e.event === 'session-state').map((e) => e.to);
    const cycles = sstates.join(' ').split('reconnecting joined').length - 1;
    // Our socket drops in faults 1 and 3 (the browser's in fault 2).
    if (cycles < 2) throw new Error(`session states ${sstates.join(' -> ')}: expected reconnecting -> joined for faults 1 and 3`);
    const errors = gst.events.filter((e) => e.event === 'error');
    if (errors.length) throw new Error(`session errors on transient faults: ${JSON.stringify(errors)}`);
    log(`session states: ${sstates.join(' -> ')}`);

    log(`GAPS ${JSON.stringify(gaps)}`);
    ok = true;
  } catch (e) {
    console.error(`${ts()} FAIL: ${e && e.stack || e}`);
  } finally {
    if (gst) { gst.child.kill('SIGTERM'); await gst.exited; }
    if (ctx) await ctx.close().catch(() => {});
    if (srv) await stopServer(srv);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  log(ok ? 'PASS peer faults' : 'FAIL peer faults');
  return ok ? 0 : 1;
}

const guard = setTimeout(() => {
  console.error(`${ts()} FAIL: overall time limit (250 s) reached`);
  if (live.server && !live.server.exit) live.server.child.kill('SIGKILL');
  process.exit(1);
}, 250000);
main().then((rc) => { clearTimeout(guard); process.exit(rc); },
  (e) => { console.error(`${ts()} FAIL: ${e && e.stack || e}`); process.exit(1); });
