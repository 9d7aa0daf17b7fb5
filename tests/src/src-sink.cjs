// gst-metered — LGPL-2.1-or-later
//
// Both ends ours: meteredsink (a live 30 fps test pattern, VP8, plus Opus
// audio, metadata role=camera) -> metered-server -> meteredsrc
// (output=decoded), inside netns-run.sh's namespace, through the faults:
//   (a) meteredsrc's signalling socket dropped, (b) meteredsink's dropped,
//   (c) metered-server SIGKILLed and restarted on the same port.
// Passes when the video and audio pads appear (video_z-sink_camera,
// audio_z-sink_camera), carry decoded media, and keep flowing after every
// fault with no error, EOS, flush or timestamp going backwards. Prints the
// frames received against the frames the sender produced (30 per second
// of wall time), so the lost-frame count of each fault is on record.
//
// argv: PATH/TO/meteredsrc-tool. Env as tests/meson.build js_env plus
// GST_PLUGIN_PATH.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { ts, log, live, requireEnv, checkNamespace, stopServer } = require('../js/lib/interop.cjs');
const { mint, startTool, waitFor, padSummary, startServerOn, admin, startSink } = require('./src-lib.cjs');

const VIDEO = 'video_z-sink_camera';
const AUDIO = 'audio_z-sink_camera';

async function main() {
  const exe = requireEnv('METERED_SERVER');
  requireEnv('GST_PLUGIN_PATH');
  const tool = process.argv[2];
  if (!tool || !fs.existsSync(tool)) throw new Error('usage: src-sink.cjs PATH/TO/meteredsrc-tool');
  checkNamespace();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-src-sink-'));
  const webRoot = path.join(tmp, 'www');
  fs.mkdirSync(webRoot);
  let srv = null;
  let t = null;
  let sink = null;
  let ok = false;
  const problems = [];
  try {
    srv = startServerOn(exe, webRoot, tmp, 0);
    live.server = srv;
    const port = await srv.port;
    const channel = `src-sink-${process.pid}`;
    t = startTool(tool, ['--', `url=ws://127.0.0.1:${port}`, `token=${mint(exe, 'a-src')}`,
      `channel=${channel}`, 'output=decoded', 'reconnect-initial-delay=250',
      'reconnect-max-delay=2000'], 'src');
    // The sender joins once meteredsrc's subscription is visible: a member
    // that subscribes within metered-server's presence gap of another sees
    // it (a "joined" broadcast reaches subscribers whose own snapshot is
    // still pending) before that one sees it, so its track metadata
    // arrives from a peer not yet known and is dropped (protocol §8.6).
    await waitFor(() => t.has('bus', (e) => e.name === 'metered/connected'), 20000, 'meteredsrc to connect');
    await new Promise((r) => setTimeout(r, 300));
    sink = startSink(port, mint(exe, 'z-sink'), channel);

    const frames = () => (t.pad(VIDEO) ? t.pad(VIDEO).buffers : 0);
    const audio = () => (t.pad(AUDIO) ? t.pad(AUDIO).buffers : 0);
    let maxIdle = 0;
    const idleWatch = setInterval(() => {
      const p = t.pad(VIDEO);
      if (p && p.idleMs > maxIdle) maxIdle = p.idleMs;
    }, 100);
    const check = (what) => {
      for (const n of [VIDEO, AUDIO]) {
        const p = t.pad(n);
        if (!p) { problems.push(`${what}: no pad ${n}`); continue; }
        if (p.eos || p.removed) problems.push(`${what}: ${n} ended`);
        if (p.flushes) problems.push(`${what}: ${n}: ${p.flushes} flush events`);
        if (p.backwards) problems.push(`${what}: ${n}: ${p.backwards} timestamps went backwards`);
      }
      if (t.count('error')) problems.push(`${what}: bus errors ${JSON.stringify(t.events.filter((e) => e.event === 'error'))}`);
      if (sink.exit) problems.push(`${what}: the sender pipeline exited: ${sink.output.slice(-2000)}`);
    };
    const reconnects = () => t.count('bus', (e) => e.name === 'metered/connected' &&
      /is-reconnect=\(boolean\)true/.test(e.structure));
    // Frames received over a stretch of wall time, against 30 per second.
    const lost = [];
    const measure = async (what, fault, srcReconnects = true) => {
      const f0 = frames();
      const a0 = audio();
      const t0 = Date.now();
      maxIdle = 0;
      if (fault) {
        const r0 = reconnects();
        await fault();
        // Media does not need the socket: wait for meteredsrc to be back.
        if (srcReconnects) {
          await waitFor(() => reconnects() > r0, 30000, `meteredsrc to reconnect after ${what}`);
        }
      }
      await waitFor(() => frames() >= f0 + 60 && Date.now() - t0 > 6000, 40000,
        `video to flow after ${what}`, () => padSummary(t));
      const secs = (Date.now() - t0) / 1000;
      const got = frames() - f0;
      const missing = Math.max(0, Math.round(secs * 30) - got);
      lost.push({ what, seconds: +secs.toFixed(2), frames: got, lost: missing, longestPauseMs: maxIdle,
        audioBuffers: audio() - a0 });
      log(`${what}: ${got} frames in ${secs.toFixed(2)} s (~${missing} lost), longest pause ${maxIdle} ms, ` +
        `${audio() - a0} audio buffers`);
      check(what);
    };

    await waitFor(() => frames() >= 30 && audio() >= 50, 40000, 'video and audio on meteredsrc',
      () => padSummary(t));
    for (const n of [VIDEO, AUDIO]) log(`${n}: ${t.pad(n).caps}`);
    if (!/^video\/x-raw/.test(t.pad(VIDEO).caps) || !/^audio\/x-raw/.test(t.pad(AUDIO).caps)) {
      problems.push(`decoded caps: ${t.pad(VIDEO).caps} / ${t.pad(AUDIO).caps}`);
    }
    await measure('steady state');
    await measure('(a) meteredsrc socket dropped', async () => {
      const st = await admin(port, 'POST', '/v1/peers/a-src/drop');
      if (st !== 204) problems.push(`drop a-src: HTTP ${st}`);
    });
    await measure('(b) meteredsink socket dropped', async () => {
      const st = await admin(port, 'POST', '/v1/peers/z-sink/drop');
      if (st !== 204) problems.push(`drop z-sink: HTTP ${st}`);
    }, false);
    await measure('(c) metered-server SIGKILL + restart', async () => {
      srv.child.kill('SIGKILL');
      await srv.exited;
      await new Promise((r) => setTimeout(r, 2000));
      srv = startServerOn(exe, webRoot, tmp, port);
      live.server = srv;
      await srv.port;
    });
    clearInterval(idleWatch);
    log(`lost frames per fault: ${JSON.stringify(lost)}`);
    t.send('eos');
    await waitFor(() => t.has('eos-message') || t.has('eos-timeout'), 25000, 'EOS');
    if (!t.has('eos-message')) problems.push('EOS did not come out');
    await t.exited;
    const stats = t.events.find((e) => e.event === 'stats');
    const padStats = stats && stats.stats && stats.stats.slice(stats.stats.indexOf('pad-stats'));
    log(`meteredsrc pad counters: ${padStats}`);
    if (problems.length) throw new Error(problems.join('\n'));
    ok = true;
  } catch (e) {
    console.error(`${ts()} FAIL: ${e && e.stack || e}`);
    if (t) console.error(`---- meteredsrc-tool output (tail) ----\n${t.output.slice(-12000)}`);
    if (sink) console.error(`---- meteredsink pipeline output (tail) ----\n${sink.output.slice(-3000)}`);
  } finally {
    if (t) await t.stop();
    if (sink && !sink.exit) {
      sink.child.kill('SIGINT');
      const k = setTimeout(() => sink.child.kill('SIGKILL'), 5000);
      await sink.exited;
      clearTimeout(k);
    }
    if (srv) {
      const exit = await stopServer(srv);
      if (!exit || exit.code !== 0) ok = false;
      if (!ok) console.error('---- metered-server output (tail) ----\n' + srv.output.slice(-3000).trimEnd());
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  log(ok ? 'PASS meteredsink -> meteredsrc' : 'FAIL meteredsink -> meteredsrc');
  return ok ? 0 : 1;
}

const guard = setTimeout(() => {
  console.error(`${ts()} FAIL: overall time limit (115 s) reached`);
  if (live.server && !live.server.exit) live.server.child.kill('SIGKILL');
  process.exit(1);
}, 115000);
main().then((rc) => { clearTimeout(guard); process.exit(rc); },
  (e) => { console.error(`${ts()} FAIL: ${e && e.stack || e}`); process.exit(1); });
