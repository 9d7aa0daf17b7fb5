// gst-metered — LGPL-2.1-or-later
//
// A recording of an anonymous sender through a server restart (issue 13),
// both ends ours, inside netns-run.sh's namespace: meteredsink on a
// publishable key (api-key=pk_dev_local: the server gives it a fresh peer
// id on every connection) -> metered-server --dev -> meteredsrc
// output=encoded (api-key too) -> matroskamux. metered-server is SIGKILLed
// and restarted mid-run; the sender comes back under a new peer id with
// the same track ids.
// Passes when meteredsrc exposed ONE video pad (and one audio pad) over the
// whole run, frames after the restart arrived on it, it never got EOS,
// flush or PTS going backwards before the end, and the file holds them in
// PTS order over the recorded span.
//
// argv: PATH/TO/meteredsrc-tool. Env as tests/meson.build js_env plus
// GST_PLUGIN_PATH.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const { ts, log, live, requireEnv, checkNamespace, stopServer } = require('../js/lib/interop.cjs');
const { startTool, waitFor, padSummary, startServerOn, startSink } = require('./src-lib.cjs');

const KEY = 'pk_dev_local';

async function main() {
  const exe = requireEnv('METERED_SERVER');
  requireEnv('GST_PLUGIN_PATH');
  const tool = process.argv[2];
  if (!tool || !fs.existsSync(tool)) throw new Error('usage: src-anon-restart.cjs PATH/TO/meteredsrc-tool');
  checkNamespace();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-src-anon-'));
  const webRoot = path.join(tmp, 'www');
  fs.mkdirSync(webRoot);
  const file = path.join(tmp, 'rec.mkv');
  const channel = `src-anon-${process.pid}`;
  const problems = [];
  let srv = null;
  let t = null;
  let sink = null;
  let ok = false;
  try {
    srv = startServerOn(exe, webRoot, tmp, 0);
    live.server = srv;
    const port = await srv.port;
    t = startTool(tool, ['--record', file, '--mux', 'matroskamux', '--',
      `url=ws://127.0.0.1:${port}`, `api-key=${KEY}`, `channel=${channel}`, 'output=encoded',
      'reconnect-initial-delay=250', 'reconnect-max-delay=2000'], 'src');
    await waitFor(() => t.has('bus', (e) => e.name === 'metered/connected'), 20000, 'meteredsrc to connect');
    await new Promise((r) => setTimeout(r, 300));
    sink = startSink(port, { apiKey: KEY }, channel, 'vp8');

    const videoPads = () => t.events.filter((e) => e.event === 'pad-added' && /^video_/.test(e.pad));
    const audioPads = () => t.events.filter((e) => e.event === 'pad-added' && /^audio_/.test(e.pad));
    await waitFor(() => videoPads().length && t.pad(videoPads()[0].pad) &&
      t.pad(videoPads()[0].pad).buffers >= 60, 30000, 'video before the restart', () => padSummary(t));
    const video = videoPads()[0].pad;
    const started = Date.now();
    const before = t.pad(video).buffers;
    const lastPtsBefore = t.pad(video).lastPts;
    log(`before the restart: ${padSummary(t)}`);

    const reconnects = () => t.count('bus', (e) => e.name === 'metered/connected' &&
      /is-reconnect=\(boolean\)true/.test(e.structure));
    const r0 = reconnects();
    srv.child.kill('SIGKILL');
    await srv.exited;
    await new Promise((r) => setTimeout(r, 2000));
    srv = startServerOn(exe, webRoot, tmp, port);
    live.server = srv;
    await srv.port;
    await waitFor(() => reconnects() > r0, 30000, 'meteredsrc to reconnect after the restart');
    // The sender's old connection may drain for a while: frames "after the
    // restart" are those beyond what came until the sender's new peer id
    // showed up, and 90 more (3 s) must arrive.
    const joinedAfter = () => t.events.filter((e) => e.event === 'peer-joined').length >= 2;
    await waitFor(joinedAfter, 30000, 'the sender to rejoin under a new peer id');
    const atRejoin = t.pad(video).buffers;
    await waitFor(() => t.pad(video).buffers >= atRejoin + 90, 40000, 'video on the same pad after the restart',
      () => padSummary(t));
    const p = t.pad(video);
    log(`after the restart: ${padSummary(t)}; ${p.buffers - before} frames since the kill, ` +
      `${p.buffers - atRejoin} since the rejoin`);
    if (!(p.lastPts > lastPtsBefore)) problems.push(`PTS did not advance: ${lastPtsBefore} -> ${p.lastPts}`);
    if (videoPads().length !== 1) problems.push(`video pads: ${JSON.stringify(videoPads())}`);
    if (audioPads().length > 1) problems.push(`audio pads: ${JSON.stringify(audioPads())}`);
    for (const n of [video, ...audioPads().map((e) => e.pad)]) {
      const q = t.pad(n);
      if (q.eos || q.removed || q.flushes || q.backwards) problems.push(`${n}: ${JSON.stringify(q)}`);
    }
    if (t.has('pad-removed')) problems.push(`pads removed: ${JSON.stringify(t.events.filter((e) => e.event === 'pad-removed'))}`);
    if (t.count('error')) problems.push(`errors ${JSON.stringify(t.events.filter((e) => e.event === 'error'))}`);

    t.send('eos');
    await waitFor(() => t.has('eos-message') || t.has('eos-timeout'), 25000, 'EOS through the muxer');
    await t.exited;
    if (!t.has('eos-message')) problems.push('EOS never reached the end of the recording pipeline');
    const wall = (Date.now() - started) / 1000;
    const verify = JSON.parse(execFileSync(tool, ['--verify', file], { timeout: 60000 }).toString().trim()
      .split('\n').pop());
    log(`file: ${JSON.stringify(verify.tracks)}; ${wall.toFixed(1)} s since the first check`);
    if (verify.error || verify.tracks.length !== 1) {
      problems.push(`demux ${JSON.stringify(verify)}`);
    } else {
      const tr = verify.tracks[0];
      const went = t.pad(video).buffers;
      const span = t.pad(video).lastPts - t.pad(video).firstPts;
      if (tr.backwards) problems.push(`${tr.backwards} PTS out of order in the file`);
      if (Math.abs(tr.frames - went) > went * 0.02 + 2) problems.push(`${tr.frames} frames in the file, ${went} went in`);
      if (Math.abs((tr.lastPts - tr.firstPts) - span) > 1.0) {
        problems.push(`file spans ${tr.lastPts - tr.firstPts} s, the pad ${span} s`);
      }
    }
    if (problems.length) throw new Error(problems.join('\n'));
    ok = true;
  } catch (e) {
    console.error(`${ts()} FAIL: ${e && e.stack || e}`);
    if (t) console.error(`---- tool output (tail) ----\n${t.output.slice(-8000)}`);
  } finally {
    if (t) await t.stop();
    if (sink) {
      if (sink.exit) { ok = false; console.error(`the sender exited early: ${sink.output.slice(-2000)}`); }
      await sink.stop();
    }
    if (srv) {
      const exit = await stopServer(srv);
      if (!exit || exit.code !== 0) ok = false;
      if (!ok) console.error('---- metered-server output (tail) ----\n' + srv.output.slice(-3000).trimEnd());
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  log(ok ? 'PASS anonymous meteredsink -> server restart -> one meteredsrc pad' :
    'FAIL anonymous meteredsink -> server restart -> one meteredsrc pad');
  return ok ? 0 : 1;
}

const guard = setTimeout(() => {
  console.error(`${ts()} FAIL: overall time limit (115 s) reached`);
  if (live.server && !live.server.exit) live.server.child.kill('SIGKILL');
  process.exit(1);
}, 115000);
main().then((rc) => { clearTimeout(guard); process.exit(rc); },
  (e) => { console.error(`${ts()} FAIL: ${e && e.stack || e}`); process.exit(1); });
