// gst-metered — LGPL-2.1-or-later
//
// MeteredSession (C, real webrtcbin) <-> headless Chromium running the real
// @metered-ca/realtime SDK, through metered-server, inside the namespace
// netns-run.sh makes. Both sides send and receive at once, so both offer
// at once: the C side is polite in one run and impolite in the other
// (peerIds picked through JWT subs), and the polite side's offer collision
// has to end connected.
//
// Passes when, for each role: the browser decodes the C side's VP8
// (getStats framesDecoded > 0) and fires stream-added with the C side's
// track metadata {role:'camera'}, the C side receives the browser camera's
// frames (>= 30, at least one key frame), and the selected ICE pair uses
// the veth addresses. The C side decodes what it receives (vp8dec) and
// also sends H264 (openh264enc) once.
//
// argv: path to metered-peer-tool. Env as tests/meson.build js_env.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, execFileSync } = require('child_process');
const {
  WAIT_S, ts, log, live, requireEnv, checkNamespace, prepareWebRoot, startServer,
  stopServer, summarize, launchChromium, openPage, pairProblems,
} = require('../js/lib/interop.cjs');

function mint(exe, sub) {
  return execFileSync(exe, ['--mint-token', '--dev', '--sub', sub, '--ttl', '600'])
    .toString().trim();
}

// Runs metered-peer-tool and keeps its latest status line.
function startTool(tool, args) {
  const child = spawn(tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const t = { child, status: null, events: [], output: '' };
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      t.output += line + '\n';
      try {
        const e = JSON.parse(line);
        if (e.event === 'status') t.status = e;
        else { t.events.push(e); log(`[gst] ${line}`); }
      } catch (_) { /* not JSON */ }
    }
  });
  child.stderr.on('data', (d) => { t.output += d.toString(); });
  t.exited = new Promise((r) => child.on('close', (code) => r(code)));
  return t;
}

async function scenario(ctx, exe, tool, port, gstId, browserId, codec = 'vp8', round = 0, recvCodec = null) {
  const channel = `peer-browser-${gstId}-${codec}-${round}-${process.pid}`;
  const polite = gstId < browserId;
  log(`--- C side ${gstId} (${polite ? 'polite' : 'impolite'}, sends ${codec}) <-> browser ${browserId}, round ${round}`);
  const base = `http://127.0.0.1:${port}/page.html?channel=${encodeURIComponent(channel)}`;
  const page = await openPage(ctx, base, browserId,
    `&send=1&token=${encodeURIComponent(mint(exe, browserId))}`);
  const t0 = Date.now();
  const gst = startTool(tool, ['--url', `ws://127.0.0.1:${port}`, '--token', mint(exe, gstId),
    '--channel', channel, '--send', '--recv', '--decode', '--codec', codec,
    ...(recvCodec ? ['--recv-codec', recvCodec] : []), '--duration', String(WAIT_S)]);
  try {
    const deadline = t0 + WAIT_S * 1000;
    let stats = {};
    let added = null;
    let lastPrint = 0;
    for (;;) {
      stats = await page.evaluate(() => window.interop.stats());
      const events = await page.evaluate(() => window.interop.events);
      added = events.find((e) => e.name === 'stream-added') || null;
      const decoded = Math.max(0, ...Object.values(stats).map((r) => r.framesDecoded));
      const got = gst.status ? gst.status.framesDecoded : 0;
      const keys = gst.status ? gst.status.keyFrames : 0;
      const pairs = Object.values(stats).some((r) => r.pair);
      if (decoded > 0 && added && got >= 30 && keys >= 1 && pairs) {
        const codecs = Object.values(stats).map((r) => r.codec).join(',');
        log(`both directions flowing after ${((Date.now() - t0) / 1000).toFixed(2)} s: ` +
          `browser decoded ${decoded} (${codecs}), C side decoded ${got} (${keys} key frames)`);
        if (!codecs.toLowerCase().includes(codec)) {
          throw new Error(`browser decoded ${codecs}, expected ${codec}`);
        }
        break;
      }
      if (Date.now() - lastPrint > 2000) {
        lastPrint = Date.now();
        log(`waiting: browser {${summarize(stats)}} stream-added=${!!added} gst=${JSON.stringify(gst.status)}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`no success within ${WAIT_S} s: browser {${summarize(stats)}}, ` +
          `stream-added=${JSON.stringify(added)}, gst status ${JSON.stringify(gst.status)}\n` +
          `gst output:\n${gst.output.slice(-3000)}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    const problems = pairProblems(browserId, stats);
    if (!added.metadata || added.metadata.role !== 'camera') {
      problems.push(`stream-added carried ${JSON.stringify(added.metadata)}, expected {role:'camera'}`);
    }
    const remote = gst.events.find((e) => e.event === 'remote-track' && e.kind === 'video');
    if (!remote || !remote.metadata || remote.metadata.role !== 'camera') {
      problems.push(`C side remote-track carried ${JSON.stringify(remote)}, expected metadata {role:'camera'}`);
    }
    // Application data both ways, broadcast and direct, bare values.
    await page.evaluate((id) => Promise.all([window.interop.broadcast({ from: 'browser', kind: 'b' }),
      window.interop.sendTo(id, { from: 'browser', kind: 'd' })]), gstId);
    const dataDeadline = Date.now() + 10000;
    let bData = [];
    while (Date.now() < dataDeadline) {
      bData = (await page.evaluate(() => window.interop.events)).filter((e) => e.name === 'data');
      const gData = gst.events.filter((e) => e.event === 'data');
      if (bData.length >= 2 && gData.length >= 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const gData = gst.events.filter((e) => e.event === 'data');
    const has = (list, pred) => list.some(pred);
    if (!has(bData, (e) => e.kind === 'broadcast' && e.from === gstId && e.data.hello === 'broadcast') ||
        !has(bData, (e) => e.kind === 'direct' && e.from === gstId && e.data.hello === 'direct')) {
      problems.push(`browser data events ${JSON.stringify(bData)}: expected a broadcast and a direct from ${gstId}`);
    }
    if (!has(gData, (e) => e.kind === 'broadcast' && e.from === browserId && e.data.kind === 'b') ||
        !has(gData, (e) => e.kind === 'direct' && e.from === browserId && e.data.kind === 'd')) {
      problems.push(`C side data events ${JSON.stringify(gData)}: expected a broadcast and a direct from ${browserId}`);
    }
    if (recvCodec) {
      const rx = gst.events.find((e) => e.event === 'receiving');
      if (!rx || !rx.caps.toLowerCase().includes(recvCodec)) {
        problems.push(`C side received ${JSON.stringify(rx)}, expected ${recvCodec}`);
      } else {
        log(`C side received and decoded ${rx.caps.split(',')[0]}`);
      }
    }
    const errs = await page.evaluate(() => window.interop.errors);
    if (errs.length) problems.push(`page errors: ${errs.join(' | ')}`);
    if (problems.length) {
      throw new Error(problems.join('\n') + `\ngst output (tail):\n${gst.output.slice(-6000)}`);
    }
  } finally {
    gst.child.kill('SIGTERM');
    await gst.exited;
    await page.close();
  }
}

async function main() {
  const exe = requireEnv('METERED_SERVER');
  const tool = process.argv[2];
  if (!tool || !fs.existsSync(tool)) throw new Error('usage: peer-browser.cjs PATH/TO/metered-peer-tool');
  checkNamespace();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-peer-browser-'));
  let srv = null;
  let ctx = null;
  let ok = false;
  try {
    srv = startServer(exe, prepareWebRoot(tmp), tmp);
    const port = await srv.port;
    ctx = await launchChromium(tmp);
    // Both sides offer at once: the C side polite (it must swap to answer)
    // three rounds in a row, then impolite, then H264 from the C side.
    for (let round = 0; round < 3; round++) {
      await scenario(ctx, exe, tool, port, 'a-gst', 'm-browser', 'vp8', round);
    }
    await scenario(ctx, exe, tool, port, 'z-gst', 'm-browser', 'vp8');
    await scenario(ctx, exe, tool, port, 'a-gst', 'm-browser', 'h264');
    // The browser camera in H264: the C side offers (impolite) preferring it.
    await scenario(ctx, exe, tool, port, 'z-gst', 'm-browser', 'vp8', 1, 'h264');
    ok = true;
  } catch (e) {
    console.error(`${ts()} FAIL: ${e && e.stack || e}`);
  } finally {
    if (ctx) await ctx.close().catch(() => {});
    if (srv) {
      const exit = await stopServer(srv);
      if (!exit || exit.code !== 0) ok = false;
      if (!ok) console.error('---- metered-server output ----\n' + srv.output.trimEnd());
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  log(ok ? 'PASS peer <-> browser' : 'FAIL peer <-> browser');
  return ok ? 0 : 1;
}

const guard = setTimeout(() => {
  console.error(`${ts()} FAIL: overall time limit (170 s) reached`);
  if (live.server && !live.server.exit) live.server.child.kill('SIGKILL');
  process.exit(1);
}, 170000);
main().then((rc) => { clearTimeout(guard); process.exit(rc); },
  (e) => { console.error(`${ts()} FAIL: ${e && e.stack || e}`); process.exit(1); });
