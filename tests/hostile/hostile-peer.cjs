// gst-metered — LGPL-2.1-or-later
//
// A hostile remote peer against our elements. meteredsink (a live VP8 test
// pattern, metered-sink-tool) serves meteredsrc (meteredsrc-tool,
// output=decoded) through a real metered-server, inside netns-run.sh's
// namespace. Then five scripted hostile members of the channel, speaking
// the raw protocol over `ws` (each paced under the server's 100 frames/s),
// send both elements:
//   - 10,000+ ICE candidates to the sink (1,000 to the source),
//   - 2 KB candidate strings and candidates with odd fields,
//   - garbage SDP (empty, not SDP, 60 KB, lone surrogates, wrong types),
//   - real Chromium offers in a loop, each from a "new" RTCPeerConnection,
//   - 600 distinct __meteredTrackMeta messages (cache cap 512),
//   - deep JSON (over the server's depth cap, and just under it),
//   - an oversized frame (server closes 1009) and invalid UTF-8 (1007).
// Passes when: the caps of protocol doc §5 show (the 200-per-generation
// and 1000-character candidate warnings), the server closes 1009/1007 and
// refuses the deep frame, meteredsrc keeps decoding the sink's video
// during and after the flood, neither pipeline posts an error, and the
// resident set of each pipeline process stays within +RSS_BOUND_MB of its
// value before the flood. Prints the figures.
//
// argv: PATH/TO/metered-sink-tool PATH/TO/meteredsrc-tool
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const WebSocket = require('ws');
const { ts, log, live, requireEnv, checkNamespace, stopServer } = require('../js/lib/interop.cjs');
const { mint, startTool: startSrcTool, waitFor, padSummary, startServerOn } = require('../src/src-lib.cjs');
const { startTool: startSinkTool, stopTool } = require('../sink/sink-lib.cjs');

// Generous: webrtcbins come and go with the offers. Under AddressSanitizer
// freed memory sits in its quarantine first: a small one for the
// pipelines, and room for it and the shadow memory in the bound.
const SANITIZED = Boolean(process.env.METERED_SANITIZER_PRELOAD);
if (SANITIZED) process.env.ASAN_OPTIONS = `${process.env.ASAN_OPTIONS || ''}:quarantine_size_mb=32`;
const RSS_BOUND_MB = SANITIZED ? 250 : 150;
const VIDEO = 'video_z-sink_camera';
const HOSTILES = 5;
const FRAMES_PER_S = 80; // per hostile socket, under the server's 100/s
const BATCH = 40;

// ----------------------------------------------------------- raw hostile --
// One raw protocol connection with a paced send queue.
function hostileSocket(port, token, name) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/v1?token=${encodeURIComponent(token)}`,
    { maxPayload: 16 * 1024 * 1024 });
  const h = { name, ws, frames: [], close: null, queue: [], sent: 0 };
  h.opened = new Promise((resolve, reject) => {
    ws.on('open', resolve);
    ws.on('error', (e) => { if (ws.readyState !== WebSocket.OPEN) reject(e); });
  });
  ws.on('message', (d, binary) => {
    let j = null;
    try { j = JSON.parse(d.toString()); } catch (_) { /* keep null */ }
    h.frames.push(j);
  });
  h.closed = new Promise((resolve) => ws.on('close', (code, reason) => {
    h.close = { code, reason: reason.toString() };
    resolve(h.close);
  }));
  // Sends the queue in batches of BATCH frames, each closed by a ping, at
  // most one batch per 1000 * BATCH / FRAMES_PER_S ms, and the next only
  // once the server has answered the ping: pacing on the client alone is
  // not enough when the server lags (a loaded box, a sanitized build) and
  // then takes a backlog at once, all against its 200-frame burst.
  h.pongs = 0;
  ws.on('message', (d) => { if (d.toString() === '{"type":"pong"}') h.pongs++; });
  h.drain = async () => {
    const spacing = (1000 * BATCH) / FRAMES_PER_S;
    while (h.queue.length && ws.readyState === WebSocket.OPEN) {
      const t0 = Date.now();
      const want = h.pongs + 1;
      for (const f of h.queue.splice(0, BATCH)) {
        if (Buffer.isBuffer(f)) ws.send(f, { binary: false });
        else ws.send(typeof f === 'string' ? f : JSON.stringify(f));
        h.sent++;
      }
      ws.send('{"type":"ping"}');
      while (h.pongs < want && ws.readyState === WebSocket.OPEN) await new Promise((r) => setTimeout(r, 20));
      const wait = spacing - (Date.now() - t0);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    h.queue.length = 0;
  };
  h.direct = (to, data) => h.queue.push({ type: 'send', to, data });
  return h;
}

// --------------------------------------------------------------- payloads --
const chromiumOffer = fs.readFileSync(path.join(__dirname, '..', 'fuzz', 'corpus', 'fuzz-sdp',
  'chromium-offer.sdp'), 'utf8');
let candN = 0;
function candidate(extra = {}) {
  candN++;
  return { type: 'rtc-ice', candidate: {
    candidate: `candidate:${candN} 1 udp 2122194687 192.0.2.${candN % 250 + 1} ${10000 + candN % 50000} typ host generation 0 ufrag kXaL network-id 1`,
    sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'kXaL', ...extra } };
}
// A real Chromium offer, as a fresh RTCPeerConnection would make it.
function newSessionOffer(i) {
  const sdp = chromiumOffer.replace(/^o=- \d+ /m, `o=- ${7705585275567730000 + i} `)
    .replace(/a=fingerprint:sha-256 ([0-9A-F]{2})/g, `a=fingerprint:sha-256 ${(i % 256).toString(16).padStart(2, '0').toUpperCase()}`);
  return { type: 'rtc-description', description: { type: 'offer', sdp } };
}
const garbageSdp = [
  '', 'garbage', 'v=0', 'v=0\r\n', 'v=0\r\no=\r\nm=\r\n', 'x'.repeat(60000),
  'v=0\r\n' + 'a=candidate:1 1 udp 1 1.2.3.4 5 typ host\r\n'.repeat(1300),
  'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\ni=x\r\na=mid:\ud800\r\n',
  chromiumOffer.replace(/\r\n/g, '\n').replace(/m=video/g, 'm=video 99999999999999999999'),
  chromiumOffer.slice(0, 700),
];
function garbagePayloads() {
  const out = [];
  for (const sdp of garbageSdp) {
    out.push({ type: 'rtc-description', description: { type: 'offer', sdp } });
    out.push({ type: 'rtc-description', description: { type: 'answer', sdp } });
  }
  out.push({ type: 'rtc-description', description: { type: 'pranswer', sdp: chromiumOffer } });
  out.push({ type: 'rtc-description', description: { type: 'offer', sdp: { v: 0 } } });
  out.push({ type: 'rtc-description', description: { type: { x: 1 }, sdp: 'v=0' } });
  out.push({ type: { nested: 'type' }, description: [] });
  out.push({ type: 'rtc-description', description: null });
  out.push({ type: 'rtc-ice', candidate: [] });
  out.push({ type: 'rtc-ice', candidate: 'candidate:1 1 udp 1 1.2.3.4 5 typ host' });
  // An answer nobody asked for (the element is not in have-local-offer).
  out.push({ type: 'rtc-description', description: { type: 'answer', sdp: chromiumOffer } });
  return out;
}
function oddCandidates() {
  const long = 'candidate:1 1 udp 2122194687 192.0.2.1 9 typ host ' + 'x'.repeat(2048);
  return [
    candidate({ candidate: long }),
    candidate({ sdpMLineIndex: 4294967297 }), candidate({ sdpMLineIndex: -1, sdpMid: null }),
    candidate({ sdpMLineIndex: 1e300 }), candidate({ sdpMLineIndex: '0' }),
    candidate({ sdpMLineIndex: null, sdpMid: { mid: 0 } }), candidate({ sdpMLineIndex: null, sdpMid: 'nope' }),
    candidate({ candidate: 42 }), candidate({ candidate: { a: 1 } }), candidate({ candidate: '' }),
    candidate({ candidate: 'candidate:\ud800\udfff\ud800 1 udp 1 192.0.2.1 9 typ host' }),
    candidate({ usernameFragment: 'y'.repeat(5000) }),
  ];
}
function nested(depth) {
  return '['.repeat(depth) + ']'.repeat(depth);
}

// -------------------------------------------------------------- the test --
function rssMb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? +(m[1] / 1024).toFixed(1) : NaN;
}

// Counts lines of a child's stderr that match each pattern.
function countLines(child, patterns) {
  const counts = Object.fromEntries(Object.keys(patterns).map((k) => [k, 0]));
  let buf = '';
  child.stderr.on('data', (d) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      for (const [k, re] of Object.entries(patterns)) if (re.test(line)) counts[k]++;
    }
  });
  return counts;
}

const CAP_PATTERNS = {
  candidatesPerGeneration: /more than 200 candidates in one negotiation/,
  candidateTooLong: /dropping a candidate over 1000 characters/,
  criticals: /CRITICAL/,
};

async function main() {
  const exe = requireEnv('METERED_SERVER');
  requireEnv('GST_PLUGIN_PATH');
  const [sinkExe, srcExe] = process.argv.slice(2);
  if (!sinkExe || !srcExe) throw new Error('usage: hostile-peer.cjs PATH/TO/metered-sink-tool PATH/TO/meteredsrc-tool');
  checkNamespace();
  // Warnings of the peer layer are where the caps show.
  process.env.GST_DEBUG = 'metered-peer:2,metered-session:2,metered-runtime:2,meteredsrc:2,meteredsink:2';
  process.env.GST_DEBUG_NO_COLOR = '1';
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-hostile-'));
  const webRoot = path.join(tmp, 'www');
  fs.mkdirSync(webRoot);
  let srv = null;
  let src = null;
  let sink = null;
  const hostiles = [];
  let ok = false;
  const problems = [];
  try {
    srv = startServerOn(exe, webRoot, tmp, 0);
    live.server = srv;
    const port = await srv.port;
    const channel = `hostile-${process.pid}`;
    src = startSrcTool(srcExe, ['--', `url=ws://127.0.0.1:${port}`, `token=${mint(exe, 'a-src')}`,
      `channel=${channel}`, 'output=decoded'], 'src');
    const srcCounts = countLines(src.child, CAP_PATTERNS);
    await waitFor(() => src.has('bus', (e) => e.name === 'metered/connected'), 20000, 'meteredsrc to connect');
    await new Promise((r) => setTimeout(r, 300));
    sink = startSinkTool(sinkExe, ['--url', `ws://127.0.0.1:${port}`, '--token', mint(exe, 'z-sink'),
      '--channel', channel, '--metadata', 'meta,role=camera', '--duration', '600']);
    const sinkCounts = countLines(sink.child, CAP_PATTERNS);
    const frames = () => (src.pad(VIDEO) ? src.pad(VIDEO).buffers : 0);
    await waitFor(() => frames() >= 60, 40000, 'video from meteredsink on meteredsrc', () => padSummary(src));
    // Settle, then the baseline.
    await new Promise((r) => setTimeout(r, 3000));
    const before = { sink: rssMb(sink.child.pid), src: rssMb(src.child.pid) };
    log(`RSS before the flood: meteredsink ${before.sink} MB, meteredsrc ${before.src} MB`);

    // Five hostile members join the channel.
    for (let i = 0; i < HOSTILES; i++) {
      const h = hostileSocket(port, mint(exe, `hostile-${i}`), `hostile-${i}`);
      await h.opened;
      h.ws.send(JSON.stringify({ type: 'subscribe', channel, requestId: 'sub' }));
      hostiles.push(h);
    }
    await waitFor(() => hostiles.every((h) => h.frames.some((f) => f && f.type === 'presence' &&
      f.joined.some((e) => e.peerId === 'z-sink'))), 20000, 'hostile members to see the sink');

    // The flood, spread over the five sockets.
    const [h0, h1, h2, h3, h4] = hostiles;
    for (let i = 0; i < 30; i++) {
      h0.direct('z-sink', newSessionOffer(i));
      h0.direct('a-src', newSessionOffer(1000 + i));
      for (let k = 0; k < 10; k++) h0.direct('z-sink', candidate());
    }
    for (let i = 0; i < 600; i++) {
      const meta = { role: 'x'.repeat(1000), i };
      h1.direct('z-sink', { __meteredTrackMeta: { trackId: `hostile-track-${i}`, metadata: meta } });
      h1.direct('a-src', { __meteredTrackMeta: { trackId: `hostile-track-${i}`, metadata: meta } });
    }
    for (const p of garbagePayloads()) { h2.direct('z-sink', p); h2.direct('a-src', p); }
    for (let i = 0; i < 150; i++) h3.direct('z-sink', oddCandidates()[0]);
    for (let i = 0; i < 50; i++) h3.direct('a-src', oddCandidates()[0]);
    for (const c of oddCandidates()) { h3.direct('z-sink', c); h3.direct('a-src', c); }
    // 10,000 well-formed candidates to the sink, 1,000 to the source.
    let toSink = 300; // h0's
    for (let i = 0; toSink < 10000; i++, toSink++) hostiles[i % HOSTILES].direct('z-sink', candidate());
    for (let i = 0; i < 1000; i++) h4.direct('a-src', candidate());
    // Deep JSON: over the depth cap (128) the server refuses the frame,
    // just under it the elements get it.
    h4.queue.push(`{"type":"send","to":"z-sink","data":${nested(5000)},"requestId":"deep"}`);
    h4.direct('z-sink', JSON.parse(`{"type":"rtc-ice","candidate":{"x":${nested(120)}}}`));
    h4.direct('a-src', JSON.parse(`{"__meteredTrackMeta":{"trackId":"deep","metadata":{"x":${nested(120)}}}}`));
    const queued = hostiles.reduce((a, h) => a + h.queue.length, 0);
    log(`flooding: ${queued} frames over ${HOSTILES} sockets at ${FRAMES_PER_S}/s each`);

    const f0 = frames();
    const t0 = Date.now();
    let maxIdle = 0;
    const idleWatch = setInterval(() => {
      const p = src.pad(VIDEO);
      if (p && p.idleMs > maxIdle) maxIdle = p.idleMs;
    }, 100);
    await Promise.all(hostiles.map((h) => h.drain()));
    const floodS = (Date.now() - t0) / 1000;
    const duringFlood = frames() - f0;
    log(`flood sent in ${floodS.toFixed(1)} s; meteredsrc decoded ${duringFlood} frames meanwhile ` +
      `(${(duringFlood / floodS).toFixed(1)}/s of 30), longest pause ${maxIdle} ms`);
    for (const h of hostiles) {
      if (h.close) problems.push(`${h.name} was closed by the server (${h.close.code} ${h.close.reason}) during the paced flood`);
    }
    // Not parsed at all, so answered without its requestId.
    const deepAnswer = () => h4.frames.find((f) => f && f.type === 'error' && f.code === 'malformed_message');
    await waitFor(() => deepAnswer() || h4.close, 20000, 'the answer to the deep frame');
    if (!deepAnswer()) problems.push('a 5000-deep frame was not refused with malformed_message');
    else log(`5000-deep frame: error ${deepAnswer().code}`);

    // Oversized frame: the server closes 1009.
    h4.ws.send(JSON.stringify({ type: 'send', to: 'z-sink', data: 'x'.repeat(70 * 1024) }));
    const c1 = await Promise.race([h4.closed, new Promise((r) => setTimeout(() => r(null), 15000))]);
    log(`70 KB frame: close ${c1 && c1.code}`);
    if (!c1 || c1.code !== 1009) problems.push(`70 KB frame: expected close 1009, got ${JSON.stringify(c1)}`);
    // Invalid UTF-8 in a text frame: the server closes 1007.
    const h5 = hostileSocket(port, mint(exe, 'hostile-4'), 'hostile-4b');
    await h5.opened;
    h5.ws.send(Buffer.from([0x7b, 0x22, 0x74, 0xff, 0xfe, 0xc3, 0x28, 0x7d]), { binary: false });
    const c2 = await Promise.race([h5.closed, new Promise((r) => setTimeout(() => r(null), 15000))]);
    log(`invalid UTF-8 text frame: close ${c2 && c2.code}`);
    if (!c2 || c2.code !== 1007) problems.push(`invalid UTF-8: expected close 1007, got ${JSON.stringify(c2)}`);
    hostiles.push(h5);

    // Media keeps flowing after the flood.
    const f1 = frames();
    await waitFor(() => frames() >= f1 + 90, 60000, 'video to keep flowing after the flood', () => padSummary(src));
    clearInterval(idleWatch);
    const p = src.pad(VIDEO);
    if (!p || p.eos || p.removed) problems.push(`meteredsrc's video pad ended: ${padSummary(src)}`);

    // The hostiles leave; the sink is back to serving one peer.
    for (const h of hostiles) h.ws.terminate();
    await waitFor(() => sink.status && sink.status.peers === 1, 30000, 'the sink to drop the hostile peers',
      () => JSON.stringify(sink.status));
    await new Promise((r) => setTimeout(r, 3000));
    const after = { sink: rssMb(sink.child.pid), src: rssMb(src.child.pid) };
    log(`RSS after the flood: meteredsink ${after.sink} MB (${(after.sink - before.sink).toFixed(1)}), ` +
      `meteredsrc ${after.src} MB (${(after.src - before.src).toFixed(1)})`);
    for (const k of ['sink', 'src']) {
      if (!(after[k] - before[k] <= RSS_BOUND_MB)) {
        problems.push(`${k}: RSS grew from ${before[k]} to ${after[k]} MB (bound +${RSS_BOUND_MB})`);
      }
    }

    // The caps of §5, as the elements' warnings show them.
    log(`meteredsink warnings: ${JSON.stringify(sinkCounts)}; meteredsrc warnings: ${JSON.stringify(srcCounts)}`);
    if (!sinkCounts.candidatesPerGeneration) problems.push('sink: no "more than 200 candidates" warning after 10,000 candidates');
    if (!srcCounts.candidatesPerGeneration) problems.push('src: no "more than 200 candidates" warning after 1,000 candidates');
    if (!sinkCounts.candidateTooLong) problems.push('sink: no warning for the 2 KB candidates');
    if (sinkCounts.criticals || srcCounts.criticals) problems.push('a CRITICAL was logged');
    // A hostile peer is that peer's problem: no error on either pipeline.
    if (sink.errors.length) problems.push(`sink errors: ${JSON.stringify(sink.errors)}`);
    if (src.count('error')) problems.push(`src errors: ${JSON.stringify(src.events.filter((e) => e.event === 'error'))}`);
    if (sink.status.state !== 'connected') {
      problems.push(`sink state ${sink.status.state}`);
    }
    if (problems.length) throw new Error(problems.join('\n'));
    ok = true;
  } catch (e) {
    console.error(`${ts()} FAIL: ${e && e.stack || e}`);
    if (src) console.error(`---- meteredsrc-tool output (tail) ----\n${src.output.slice(-6000)}`);
    if (sink) console.error(`---- metered-sink-tool output (tail) ----\n${sink.output.slice(-6000)}`);
  } finally {
    for (const h of hostiles) h.ws.terminate();
    if (src) await src.stop();
    if (sink) await stopTool(sink);
    if (srv) {
      const exit = await stopServer(srv);
      if (!exit || exit.code !== 0) ok = false;
      if (!ok) console.error('---- metered-server output (tail) ----\n' + srv.output.slice(-3000).trimEnd());
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  log(ok ? 'PASS hostile peer' : 'FAIL hostile peer');
  return ok ? 0 : 1;
}

const guard = setTimeout(() => {
  console.error(`${ts()} FAIL: overall time limit (230 s) reached`);
  if (live.server && !live.server.exit) live.server.child.kill('SIGKILL');
  process.exit(1);
}, 230000);
main().then((rc) => { clearTimeout(guard); process.exit(rc); },
  (e) => { console.error(`${ts()} FAIL: ${e && e.stack || e}`); process.exit(1); });
