// gst-metered — LGPL-2.1-or-later
//
// meteredsink -> metered-server --dev -> meteredsrc, both ends ours, on a
// publishable key (api-key=pk_dev_local: the server gives a fresh peer id
// on every connection), inside netns-run.sh's namespace (issue 13).
//
// argv: PATH/TO/meteredsrc-tool SCENARIO
//
//  restart: meteredsrc output=encoded -> matroskamux; metered-server is
//        SIGKILLed and restarted mid-run; the sender comes back under a new
//        peer id with the same track ids. Passes when meteredsrc exposed ONE
//        video pad (and one audio pad) over the whole run, frames after the
//        restart arrived on it, it never got EOS, flush or PTS going
//        backwards before the end, and the file holds them in PTS order
//        over the recorded span.
//  role: pads-by-role=true: sender A (role=camera) feeds video_camera; a
//        second sender B with the same role joins (a reloaded page: a new
//        peer id AND new track ids) and takes the pad over
//        (metered/pad-takeover names B and A); A stops. Passes when there
//        is ONE video pad, video_camera, over the whole run, frames keep
//        coming on it after the takeover and after A left, and it never
//        got EOS, flush or PTS going backwards.
//
// Env as tests/meson.build js_env plus GST_PLUGIN_PATH.
'use strict';

const path = require('path');
const { execFileSync } = require('child_process');
const { log } = require('../js/lib/interop.cjs');
const { startTool, waitFor, padSummary, startSink, runServerTest } = require('./src-lib.cjs');

const KEY = 'pk_dev_local';
const VIDEO = 'video_camera';

async function scenarioRestart(c) {
  const { tool, tmp, port, problems } = c;
  const file = path.join(tmp, 'rec.mkv');
  const channel = `src-anon-${process.pid}`;
  let t = null;
  let sink = null;
  try {
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
    await c.restart();
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
  } finally {
    if (t) await t.stop();
    if (sink) {
      if (sink.exit) problems.push(`the sender exited early: ${sink.output.slice(-2000)}`);
      await sink.stop();
    }
    if (problems.length && t) log(`tool output (tail):\n${t.output.slice(-8000)}`);
  }
}

async function scenarioRole(c) {
  const { tool, port, problems } = c;
  const channel = `src-role-${process.pid}`;
  let t = null;
  const sinks = [];
  try {
    t = startTool(tool, ['--', `url=ws://127.0.0.1:${port}`, `api-key=${KEY}`, `channel=${channel}`,
      'output=encoded', 'pads-by-role=true', 'dead-peer-timeout=2000'], 'src');
    await waitFor(() => t.has('bus', (e) => e.name === 'metered/connected'), 20000, 'meteredsrc to connect');
    await new Promise((r) => setTimeout(r, 300));
    const v = () => (t.pad(VIDEO) ? t.pad(VIDEO).buffers : 0);
    const more = async (what) => {
      const v0 = v();
      await waitFor(() => v() >= v0 + 60, 30000, `video on ${VIDEO} ${what}`, () => padSummary(t));
      log(`${what}: ${padSummary(t)}`);
    };
    sinks.push(startSink(port, { apiKey: KEY }, channel, 'vp8'));
    await more('from A');
    const peers = () => t.events.filter((e) => e.event === 'peer-joined').map((e) => e.peer);
    sinks.push(startSink(port, { apiKey: KEY }, channel, 'vp8'));
    await waitFor(() => t.has('bus', (e) => e.name === 'metered/pad-takeover' && /kind=\(string\)video/.test(e.structure)),
      30000, 'metered/pad-takeover for video');
    const take = t.events.find((e) => e.event === 'bus' && e.name === 'metered/pad-takeover' &&
      /kind=\(string\)video/.test(e.structure));
    log(`takeover: ${take.structure}; peers ${JSON.stringify(peers())}`);
    const [a, b] = peers();
    if (!take.structure.includes(`peer-id=(string)${b}`) || !take.structure.includes(`previous-peer-id=(string)${a}`) ||
        !take.structure.includes(`pad=(string)${VIDEO}`)) {
      problems.push(`takeover ${take.structure}, peers ${a} then ${b}`);
    }
    await more('after B took over');
    await sinks[0].stop();
    await waitFor(() => t.has('peer-left', (e) => e.peer === a), 20000, 'A to leave');
    await new Promise((r) => setTimeout(r, 3000));
    await more('after A left');
    const videoPads = t.events.filter((e) => e.event === 'pad-added' && /^video_/.test(e.pad)).map((e) => e.pad);
    if (videoPads.length !== 1 || videoPads[0] !== VIDEO) problems.push(`video pads: ${JSON.stringify(videoPads)}`);
    const p = t.pad(VIDEO);
    if (p.eos || p.removed || p.flushes || p.backwards) problems.push(`${VIDEO}: ${JSON.stringify(p)}`);
    if (t.count('error')) problems.push(`errors ${JSON.stringify(t.events.filter((e) => e.event === 'error'))}`);
  } finally {
    if (t) await t.stop();
    for (const s of sinks) await s.stop();
    if (problems.length && t) log(`tool output (tail):\n${t.output.slice(-8000)}`);
  }
}

runServerTest('src-sink-anon', { restart: scenarioRestart, role: scenarioRole });
