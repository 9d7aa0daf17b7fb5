// gst-metered — LGPL-2.1-or-later
//
// Media over an impaired link: a sender and a headless Chromium viewer
// (real @metered-ca/realtime SDK) whose UDP crosses tests/netem/linkem
// (loss, delay, jitter, rate cap), inside netns-run.sh's namespace. The
// signalling (TCP on 127.0.0.1) is not impaired.
//
// Senders:  a  meteredsink (gst-launch-1.0, videotestsrc SMPTE moving,
//              640x360@30) -> Chromium
//           a0 the same with the plugin in --before-plugin-path (another
//              build, e.g. before a change), for before/after in one run
//           c  meteredsink -> meteredsrc (output=decoded) in the viewer's
//              namespace: output gaps (> 100 ms) in running time
//           c0 the same, both with the --before-plugin-path plugin
//           b  Chromium, fake camera playing a y4m of the same content
//              -> Chromium (the baseline users compare us with)
// Per profile and sender it prints the viewer's getStats figures over the
// measured window, and the ratios a/b.
//
//   node impair.cjs --linkem PATH [--profiles p1,p2] [--senders a,b]
//                   [--duration S] [--quick] [--ci]
//                   [--plugin-path DIR (meteredsink's plugin for a)]
//                   [--before-plugin-path DIR (for a0)]
//
// --ci: one run of sender a; fails unless the viewer sent NACKs that were
// answered with retransmissions and kept decoding (no timing asserted).
// --ci-layers: sender a, one viewer on a clean link and one behind
// 400 kbit/s (the stream is 1 Mbit/s): the weak one must be capped to the
// base temporal layer and keep decoding while the clean one keeps every
// frame at the full rate; once its link opens it must get every layer back
// (frame rates as conditions with generous bounds, not timing).
// --ci-recv: one run of sender c with output=encoded and a 20 ms jitter
// buffer behind 1 % loss and 100 ms RTT (no repair is in time); fails
// unless losses reached the pad, each was resolved by a DISCONT key frame
// (never a delta frame after a loss), frames kept coming to the end and
// running time never went backwards.
// --src-output decoded|encoded, --src-latency MS: sender c's meteredsrc.
// --ci-rate: sender a behind an 800 kbit/s cap, lifted once the encoder
// target went under it; fails unless meteredsink's metered/target-changed
// messages show the target under the cap, then back to >= 800 kbit/s, and
// the viewer kept decoding (conditions with generous bounds, not timing).
// --ci-twcc --sink-tool PATH: metered-sink-tool (tests/sink) behind a
// 600 kbit/s cap, under the encoder's 1 Mbit/s start; fails unless both
// descriptions of the video m-line carry the transport-wide-cc extension
// and rtcp-fb transport-cc, the viewer's TWCC feedback reaches its rate
// estimator (the sink's stats), the encoder target goes under the cap
// and the viewer keeps decoding.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, execFileSync } = require('child_process');
const {
  CHROMIUM, ts, log, live, requireEnv, checkNamespace, prepareWebRoot, startServer, stopServer,
  openPage,
} = require('../js/lib/interop.cjs');
const { mint, decoded, sleep, waitFor, startTool, stopTool } = require('../sink/sink-lib.cjs');

// One-way figures: both directions get the same (RTT = 2 x delay).
const PROFILES = {
  clean: { delay: 0 },
  'loss5-rtt50': { delay: 25, loss: 5 },
  'loss1-rtt100': { delay: 50, loss: 1 },
  'loss5-rtt200': { delay: 100, jitter: 10, loss: 5 },
  'cap1m-q100': { delay: 10, rate: 1000, queue: 100 },
  'steps-bursty': { delay: 30, jitter: 10, rate: 4000, queue: 300, ge: '0.5,20,50,99.9',
    steps: [[1 / 3, 1500], [2 / 3, 3000]] },
  // four viewers on a clean link, one more behind a weak one of its own
  'fanout-4+1': { delay: 0, fanout: { clean: 4, weak: { delay: 75, loss: 5, rate: 400 } } },
};

function args() {
  const o = { profiles: null, senders: 'a,b', duration: 30, quick: false, ci: false, ciRate: false,
    ciRecv: false, srcOutput: 'decoded', srcLatency: null,
    linkem: null, pluginPath: process.env.GST_PLUGIN_PATH, seed: 1 };
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--quick') o.quick = true;
    else if (a[i] === '--ci') o.ci = true;
    else if (a[i] === '--ci-layers') o.ciLayers = true;
    else if (a[i] === '--ci-recv') o.ciRecv = true;
    else if (a[i] === '--src-output') o.srcOutput = a[++i];
    else if (a[i] === '--src-latency') o.srcLatency = Number(a[++i]);
    else if (a[i] === '--ci-rate') o.ciRate = true;
    else if (a[i] === '--ci-twcc') o.ciTwcc = true;
    else if (a[i] === '--sink-tool') o.sinkTool = a[++i];
    else if (a[i] === '--profiles') o.profiles = a[++i];
    else if (a[i] === '--senders') o.senders = a[++i];
    else if (a[i] === '--duration') o.duration = Number(a[++i]);
    else if (a[i] === '--linkem') o.linkem = a[++i];
    else if (a[i] === '--plugin-path') o.pluginPath = a[++i];
    else if (a[i] === '--before-plugin-path') o.beforePluginPath = a[++i];
    else if (a[i] === '--seed') o.seed = Number(a[++i]);
    else throw new Error(`unknown argument ${a[i]}`);
  }
  if (!o.linkem || !fs.existsSync(o.linkem)) throw new Error('--linkem PATH/TO/linkem is required');
  if (o.ciRate) o.senders = 'a';
  if (o.ciTwcc) o.senders = 'a';
  if (o.ciLayers) {
    o.profiles = 'clean';
    o.senders = 'a';
  } else if (o.ci) {
    o.profiles = o.profiles || 'loss5-rtt50';
    o.senders = 'a';
    o.duration = Math.min(o.duration, 8);
  } else if (o.ciRecv) {
    // A jitter buffer far shorter than the round trip: no retransmission
    // is in time, every loss reaches meteredsrc's pad unrepaired.
    o.profiles = o.profiles || 'loss1-rtt100';
    o.senders = 'c';
    o.srcOutput = 'encoded';
    o.srcLatency = o.srcLatency === null ? 20 : o.srcLatency;
    o.duration = Math.min(o.duration, 10);
  } else if (o.quick) {
    o.profiles = o.profiles || 'clean,loss5-rtt50';
    o.duration = Math.min(o.duration, 12);
  }
  o.profiles = (o.profiles || Object.keys(PROFILES).join(',')).split(',');
  for (const p of o.profiles) if (!PROFILES[p]) throw new Error(`unknown profile ${p}`);
  o.senders = o.senders.split(',');
  if (o.senders.some((x) => x.endsWith('0')) && !o.beforePluginPath) throw new Error('sender a0 needs --before-plugin-path');
  return o;
}

// The viewer lives in a network namespace of its own, joined to this one
// only by linkem (TUN lkA here, 10.98.0.1; lkB there, 10.98.0.2): its
// media, RTCP and ICE-TCP all cross the emulated link. Its signalling
// (127.0.0.1 there, where the SDK wants it) reaches metered-server
// through a relay over a unix socket, unimpaired.
// The namespaces: the viewers' (10.98.0.x) and, for the fan-out profile,
// a weak viewer's (10.98.1.x), each behind a linkem of its own.
const NS = [
  { name: `impair-viewer-${process.pid}`, devs: ['lkA', 'lkB'], net: '10.98.0' },
  { name: `impair-weak-${process.pid}`, devs: ['lkC', 'lkD'], net: '10.98.1' },
];
const VIEWER_NS = NS[0].name;
const children = new Set(); // what abort() kills
let tmpDir = null; // what abort() removes
const sh = (a) => execFileSync(a[0], a.slice(1), { timeout: 10000 });

function viewerNsUp(ns = NS[0]) {
  sh(['ip', 'netns', 'add', ns.name]);
  ns.up = true;
  sh(['ip', '-n', ns.name, 'link', 'set', 'lo', 'up']);
  sh(['ip', 'netns', 'exec', ns.name, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1',
    'net.ipv6.conf.default.disable_ipv6=1']);
}

function viewerNsDown() {
  for (const ns of NS) {
    if (!ns.up) continue;
    try { sh(['ip', 'netns', 'del', ns.name]); } catch (_) {}
    ns.up = false;
  }
}

// 127.0.0.1:port in the viewer's namespace -> unix socket -> metered-server.
function relay(tmp, port, ns = NS[0]) {
  const net = require('net');
  const sock = path.join(tmp, `relay-${ns.name}.sock`);
  const pipe = (a, b) => { a.pipe(b); b.pipe(a); a.on('error', () => b.destroy()); b.on('error', () => a.destroy()); };
  const here = net.createServer((c) => pipe(c, net.connect(port, '127.0.0.1'))).listen(sock);
  const code = `const net=require('net');net.createServer((c)=>{const u=net.connect(${JSON.stringify(sock)});` +
    `c.pipe(u);u.pipe(c);c.on('error',()=>u.destroy());u.on('error',()=>c.destroy());})` +
    `.listen(${port},'127.0.0.1',()=>console.log('relay ready'));`;
  const child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, '-e', code],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  const r = { here, child, out: '' };
  child.stdout.on('data', (d) => { r.out += d; });
  r.ready = waitFor('the viewer-side relay', 10, () => /relay ready/.test(r.out));
  r.close = () => { child.kill('SIGKILL'); here.close(); };
  return r;
}

function linkUp(linkem, p, seed, ns = NS[0]) {
  const [here, there] = ns.devs;
  const opts = ['--dev', here, '--peer-dev', there, '--peer-netns', `/run/netns/${ns.name}`,
    '--seed', String(seed), '--delay-ms', String(p.delay || 0),
    '--jitter-ms', String(p.jitter || 0), '--loss', String(p.loss || 0),
    '--rate-kbps', String(p.rate || 0), '--queue-ms', String(p.queue || 100)];
  if (p.ge) opts.push('--ge', p.ge);
  const child = spawn(linkem, opts, { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  child.on('close', () => children.delete(child));
  const lk = { child, out: '' };
  child.stdout.on('data', (d) => { lk.out += d.toString(); });
  child.stderr.on('data', (d) => { lk.out += d.toString(); });
  lk.exited = new Promise((r) => child.on('close', (code) => r(code)));
  return (async () => {
    await waitFor(() => `linkem to start (${lk.out})`, 10, () => /ready/.test(lk.out));
    sh(['ip', 'addr', 'add', `${ns.net}.1`, 'peer', `${ns.net}.2`, 'dev', here]);
    sh(['ip', 'link', 'set', here, 'up']);
    sh(['ip', '-n', ns.name, 'addr', 'add', `${ns.net}.2`, 'peer', `${ns.net}.1`, 'dev', there]);
    sh(['ip', '-n', ns.name, 'link', 'set', there, 'up']);
    return lk;
  })();
}

async function linkDown(lk) {
  if (!lk) return '';
  lk.child.stdin.end();
  const t = setTimeout(() => lk.child.kill('SIGKILL'), 5000);
  await lk.exited;
  clearTimeout(t);
  return lk.out.trim().split('\n').pop();
}

// Debian's chromium with a fresh profile; in the viewer's namespace when
// netns is given. Host candidates as plain addresses (no mDNS names,
// which nothing resolves across the link).
async function chromium(tmp, name, extra, netns) {
  const { chromium: pw } = require('playwright-core');
  const dir = fs.mkdtempSync(path.join(tmp, `${name}-profile-`));
  let exe = CHROMIUM;
  if (netns) {
    exe = path.join(tmp, `${name}-chromium.sh`);
    fs.writeFileSync(exe, `#!/bin/sh\nexec ip netns exec ${netns} ${CHROMIUM} "$@"\n`, { mode: 0o755 });
  }
  return pw.launchPersistentContext(dir, {
    executablePath: exe, headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync',
      '--disable-features=WebRtcHideLocalIpsWithMdns', ...extra],
  });
}

// The viewer's video inbound-rtp (summed over its remote peers) and RTT.
async function viewerStats(page) {
  return page.evaluate(async () => {
    const keys = ['framesDecoded', 'freezeCount', 'totalFreezesDuration', 'packetsLost',
      'packetsReceived', 'nackCount', 'pliCount', 'keyFramesDecoded', 'bytesReceived',
      'jitterBufferDelay', 'jitterBufferEmittedCount', 'retransmittedPacketsReceived',
      'framesDropped', 'framesReceived', 'jitterBufferTargetDelay', 'jitterBufferMinimumDelay'];
    const out = { rtt: null, width: 0, rttRtcp: 0 };
    for (const k of keys) out[k] = 0;
    for (const rp of window.peer ? window.peer.remotePeers : []) {
      if (!rp.pc) continue;
      (await rp.pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') {
          for (const k of keys) out[k] += s[k] || 0;
          out.width = s.frameWidth || out.width;
        }
        if (s.type === 'remote-outbound-rtp' && s.kind === 'video') {
          out.rttRtcp += s.roundTripTimeMeasurements || 0;
        }
        if (s.type === 'candidate-pair' && s.nominated && s.currentRoundTripTime !== undefined) {
          out.rtt = s.currentRoundTripTime;
        }
      });
    }
    return out;
  });
}

function delta(s0, s1, seconds) {
  const d = (k) => s1[k] - s0[k];
  const emitted = d('jitterBufferEmittedCount');
  return {
    fps: d('framesDecoded') / seconds,
    frames: d('framesDecoded'),
    freezes: d('freezeCount'),
    freezeS: d('totalFreezesDuration'),
    lost: d('packetsLost'),
    nacks: d('nackCount'),
    rtx: d('retransmittedPacketsReceived'),
    plis: d('pliCount'),
    dropped: d('framesDropped'),
    received: d('framesReceived'),
    jbTargetMs: emitted > 0 ? d('jitterBufferTargetDelay') / emitted * 1000 : 0,
    rttMeasured: s1.rttRtcp,
    keys: d('keyFramesDecoded'),
    kbps: d('bytesReceived') * 8 / 1000 / seconds,
    jbMs: emitted > 0 ? d('jitterBufferDelay') / emitted * 1000 : 0,
    rttMs: s1.rtt === null ? null : s1.rtt * 1000,
    width: s1.width,
  };
}

function y4m(tmp) {
  const file = path.join(tmp, 'smpte-640x360.y4m');
  // 10 s, looped by Chromium; the same moving content meteredsink encodes.
  execFileSync('gst-launch-1.0', ['-q', 'videotestsrc', 'pattern=smpte', 'horizontal-speed=4',
    'num-buffers=300', '!', 'video/x-raw,format=I420,width=640,height=360,framerate=30/1', '!',
    'y4menc', '!', 'filesink', `location=${file}`], { timeout: 60000 });
  return file;
}

// A child process: its output (the tail) and, line by line, to onLine
// (which returns true for lines it consumed); stop() is SIGINT, then
// SIGKILL after 15 s.
function child(cmd, args, env, onLine) {
  const c = { child: spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] }), output: '' };
  children.add(c.child);
  c.child.on('close', () => children.delete(c.child));
  let buf = '';
  const keep = (text) => { c.output = (c.output + text).slice(-8000); };
  c.child.stdout.on('data', (d) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop();
    for (const line of lines) if (!onLine || !onLine(line)) keep(line + '\n');
  });
  c.child.stderr.on('data', (d) => keep(d.toString()));
  c.exited = new Promise((r) => c.child.on('close', (code, signal) => r({ code, signal })));
  c.stop = async () => {
    c.child.kill('SIGINT');
    const t = setTimeout(() => c.child.kill('SIGKILL'), 15000);
    const exit = await c.exited;
    clearTimeout(t);
    return exit;
  };
  return c;
}

// gst-launch-1.0's environment for the plugin in pluginPath: one registry
// per plugin directory, removed with the run's files.
function gstEnv(o, pluginPath) {
  const env = { ...process.env, GST_PLUGIN_PATH: pluginPath,
    GST_REGISTRY: path.join(o.tmp, `registry-${pluginPath === o.pluginPath ? 'a' : 'a0'}.bin`) };
  if (process.env.SINK_ASAN_PRELOAD) {
    // gst-launch-1.0 is not instrumented; the plugin's leaks are the C tests' business
    env.LD_PRELOAD = process.env.SINK_ASAN_PRELOAD;
    env.ASAN_OPTIONS = 'detect_leaks=0';
  }
  return env;
}

// onLine: gst-launch-1.0 prints the bus messages (-m), one per line, to it.
async function senderA(o, port, exe, channel, pluginPath, onLine) {
  const env = gstEnv(o, pluginPath);
  return child('gst-launch-1.0', [...(onLine ? ['-m'] : []), 'videotestsrc', 'is-live=true', 'pattern=smpte',
    'horizontal-speed=4', '!', 'video/x-raw,width=640,height=360,framerate=30/1', '!',
    'meteredsink', `url=ws://127.0.0.1:${port}`, `token=${mint(exe, 'a-gst')}`,
    `channel=${channel}`], env, onLine);
}

async function senderB(o, port, exe, channel, tmp, file) {
  const ctx = await chromium(tmp, 'sender', [`--use-file-for-fake-video-capture=${file}`], null);
  const page = await openPage(ctx, `http://127.0.0.1:${port}/page.html?channel=${channel}`,
    'sender', `&token=${mint(exe, 'a-chromium')}`);
  await page.evaluate(async () => {
    const stream = await navigator.mediaDevices.getUserMedia({
      video: { width: 640, height: 360, frameRate: 30 }, audio: false });
    window.peer.addStream(stream, { role: 'camera' });
  });
  return { output: '', stop: async () => { await ctx.close().catch(() => {}); return { code: 0 }; } };
}

// Sender c: meteredsink -> meteredsrc (output=decoded, or --src-output)
// in the viewer's namespace; every frame's PTS (running time, in µs) and
// flags from an identity at its pad. A "freeze" here is an output gap:
// two frames more than 100 ms apart. --src-latency sets meteredsrc's
// latency (not for c0: older plugins lack it).
function gstViewer(o, port, exe, channel, pluginPath) {
  const env = gstEnv(o, pluginPath);
  const frames = []; // { pts (µs), discont, delta }
  const props = pluginPath === o.pluginPath && o.srcLatency !== null ? [`latency=${o.srcLatency}`] : [];
  env.GST_DEBUG = `${env.GST_DEBUG ? `${env.GST_DEBUG},` : ''}meteredsrc:4`;
  const v = child('ip', ['netns', 'exec', VIEWER_NS, 'gst-launch-1.0', '-v', 'meteredsrc',
    `url=ws://127.0.0.1:${port}`, `token=${mint(exe, 'm-gst')}`, `channel=${channel}`,
    `output=${o.srcOutput}`, ...props, 'name=s', 's.', '!', 'identity', 'name=probe', 'silent=false', '!',
    'fakesink', 'sync=false'], env, (line) => {
    const m = /probe: last-message = chain.*pts: (\d+):(\d+):(\d+)\.(\d+).*flags: [0-9a-f]+ ([^,)]*)/.exec(line);
    if (m) {
      frames.push({ pts: ((+m[1] * 60 + +m[2]) * 60 + +m[3]) * 1e6 + +m[4].slice(0, 6),
        discont: /\bdiscont\b/.test(m[5]), delta: /\bdelta-unit\b/.test(m[5]) });
    }
    return !!m;
  });
  v.frames = frames;
  // meteredsrc's jitter-buffer latency as it changes (its INFO log)
  v.jbMs = null;
  v.child.stderr.on('data', (d) => {
    for (const m of d.toString().matchAll(/jitter-buffer latency of \S+ video .*?: (\d+) ms/g)) v.jbMs = +m[1];
  });
  return v;
}

// Output gaps over frames[i0, i1): count and total of those > 100 ms, the
// longest; frames out per second; resyncs (DISCONT frames after the
// first: a loss or a swap was resolved), DISCONT delta frames (a frame
// decoded without its references: an artifact) and PTS steps backwards.
function gapDelta(frames, i0, i1, seconds) {
  let gaps = 0, total = 0, longest = 0, resyncs = 0, badResyncs = 0, backwards = 0;
  for (let i = i0; i < i1; i++) {
    if (frames[i].discont && i > 0) {
      resyncs++;
      if (frames[i].delta) badResyncs++;
    }
    if (i === i0 || i === 0) continue;
    const d = (frames[i].pts - frames[i - 1].pts) / 1000;
    if (d < 0) backwards++;
    longest = Math.max(longest, d);
    if (d > 100) { gaps++; total += d - 1000 / 30; }
  }
  return { fps: (i1 - i0) / seconds, frames: i1 - i0, freezes: gaps, freezeS: total / 1000,
    longestMs: longest, resyncs, badResyncs, backwards, lost: null, nacks: null, rtx: null,
    plis: null, keys: null, kbps: null, jbMs: null, rttMs: null, width: null,
    lastPts: i1 > 0 ? frames[i1 - 1].pts : null };
}

async function run(o, ctx, port, exe, tmp, file, profile, sender) {
  const channel = `impair-${profile.replace(/[^a-z0-9-]/gi, "-")}-${sender}-${process.pid}`;
  const lk = await linkUp(o.linkem, PROFILES[profile], o.seed);
  let snd = null, gv = null, weak = null, steps = [];
  const pages = []; // [label, page]
  try {
    const plugin = sender.endsWith('0') ? o.beforePluginPath : o.pluginPath;
    snd = sender === 'b' ? await senderB(o, port, exe, channel, tmp, file)
      : await senderA(o, port, exe, channel, plugin);
    if (sender.startsWith('c')) {
      if (PROFILES[profile].fanout) throw new Error(`sender ${sender}: no fan-out profile`);
      gv = gstViewer(o, port, exe, channel, plugin);
      await waitFor(() => `meteredsrc to output (${sender}, ${profile})\n${gv.output}`, 60,
        () => gv.frames.length > 0);
      await sleep(o.ciRecv ? 1000 : 3000);
      const i0 = gv.frames.length, t0 = Date.now();
      await sleep(o.duration * 1000);
      const m = gapDelta(gv.frames, i0, gv.frames.length, (Date.now() - t0) / 1000);
      m.firstPts = gv.frames[i0] ? gv.frames[i0].pts : null;
      m.jbMs = gv.jbMs;
      return [['', m]];
    }
    const url = `http://127.0.0.1:${port}/page.html?channel=${channel}`;
    const fan = PROFILES[profile].fanout;
    if (!fan) {
      pages.push(['', await openPage(ctx, url, 'viewer', `&token=${mint(exe, 'm-viewer')}`)]);
    } else {
      weak = { ns: NS[1] };
      viewerNsUp(weak.ns);
      weak.lk = await linkUp(o.linkem, fan.weak, o.seed + 1, weak.ns);
      weak.rl = relay(tmp, port, weak.ns);
      await weak.rl.ready;
      weak.ctx = await chromium(tmp, 'weak', [], weak.ns.name);
      for (let i = 1; i <= fan.clean; i++) {
        pages.push([`v${i}`, await openPage(ctx, url, `v${i}`, `&token=${mint(exe, `m-viewer${i}`)}`)]);
      }
      pages.push(['weak', await openPage(weak.ctx, url, 'weak', `&token=${mint(exe, 'm-weak')}`)]);
    }
    for (const [label, page] of pages) {
      const first = waitFor(() => `viewer ${label} to decode (${sender}, ${profile})\n${snd.output.slice(-3000)}`,
        60, async () => (await decoded(page)) > 0);
      // the weak viewer may never decode: that is a figure, not a failure
      if (label === 'weak') await first.catch((e) => log(`weak viewer: ${e.message.split('\n')[0]}`));
      else await first;
    }
    // a warm-up, then the measured window
    await sleep(o.ci ? 1000 : 3000);
    const s0 = [];
    for (const [, page] of pages) s0.push(await viewerStats(page));
    const t0 = Date.now();
    for (const [at, rate] of PROFILES[profile].steps || []) {
      steps.push(setTimeout(() => lk.child.stdin.write(`rate ${rate}\n`), at * o.duration * 1000));
    }
    await sleep(o.duration * 1000);
    const out = [];
    for (let i = 0; i < pages.length; i++) {
      out.push([pages[i][0], delta(s0[i], await viewerStats(pages[i][1]), (Date.now() - t0) / 1000)]);
    }
    return out;
  } finally {
    for (const t of steps) clearTimeout(t);
    for (const [, page] of pages) await page.close().catch(() => {});
    if (weak) {
      if (weak.ctx) await weak.ctx.close().catch(() => {});
      if (weak.rl) weak.rl.close();
      if (weak.lk) log(`linkem ${profile} weak: ${await linkDown(weak.lk)}`);
      try { sh(['ip', 'netns', 'del', weak.ns.name]); } catch (_) {}
      weak.ns.up = false;
    }
    if (gv) await gv.stop();
    if (snd) {
      const exit = await snd.stop();
      if (exit.code !== 0) log(`sender ${sender} exited ${JSON.stringify(exit)}: ${snd.output.slice(-2000)}`);
    }
    log(`linkem ${profile}: ${await linkDown(lk)}`);
  }
}

// --ci-layers: the fan-out case temporal layers are for. One viewer on a
// clean link, one behind 400 kbit/s of the 1 Mbit/s stream. The weak one
// is left out of the encoder's target (far below the other), so the clean
// one keeps the full rate and frame rate while the weak one gets the base
// temporal layer (7.5 of 30 fps) and keeps decoding; with its link open
// again it gets every layer back. (A weak viewer alone is served by a
// lower encoder target instead: media-rate.) Before the per-viewer layer
// gate it decoded almost nothing there (bench/impair.sh, fan-out profile).
async function layersCi(o, ctx, port, exe) {
  const channel = `impair-layers-${process.pid}`;
  const url = `http://127.0.0.1:${port}/page.html?channel=${channel}`;
  const lk = await linkUp(o.linkem, { delay: 25 }, o.seed);
  const weak = { ns: NS[1] };
  let snd = null, clean = null, page = null, m = null, c = null;
  // both viewers over the same window
  const over = async (ms) => {
    const a = await viewerStats(page), b = await viewerStats(clean), t = Date.now();
    await sleep(ms);
    const s = (Date.now() - t) / 1000;
    m = delta(a, await viewerStats(page), s);
    c = delta(b, await viewerStats(clean), s);
  };
  const seen = () => `weak ${JSON.stringify(m)}, clean ${JSON.stringify(c)}`;
  try {
    viewerNsUp(weak.ns);
    weak.lk = await linkUp(o.linkem, { delay: 25, rate: 400, queue: 200 }, o.seed + 1, weak.ns);
    weak.rl = relay(o.tmp, port, weak.ns);
    await weak.rl.ready;
    weak.ctx = await chromium(o.tmp, 'weak', [], weak.ns.name);
    snd = await senderA(o, port, exe, channel, o.pluginPath);
    clean = await openPage(ctx, url, 'viewer', `&token=${mint(exe, 'm-viewer')}`);
    page = await openPage(weak.ctx, url, 'weak', `&token=${mint(exe, 'm-weak')}`);
    for (const p of [clean, page]) {
      await waitFor(() => `both viewers to decode\n${snd.output.slice(-3000)}`, 60,
        async () => (await decoded(p)) > 0);
    }
    // 3 s windows: the base layer is 7.5 fps; two layers (15 fps) do not
    // fit 400 kbit/s. The clean viewer, in the same window, gets every
    // frame at about the full 1 Mbit/s (an encoder target dragged down to
    // the weak viewer would show here).
    await waitFor(() => `the weak viewer to decode the base layer alone while the clean one keeps ` +
      `the full stream (last 3 s: ${seen()})`, 45, async () => {
      await over(3000);
      return m.frames >= 12 && m.fps < 11 && c.fps >= 20 && c.kbps >= 600;
    });
    log(`capped: ${seen()}`);
    weak.lk.child.stdin.write('rate 0\n');
    await waitFor(() => `the weak viewer to get every layer back (last 3 s: ${seen()})`,
      75, async () => { await over(3000); return m.fps >= 20 && c.fps >= 20; });
    log(`PASS: every layer back: ${seen()}`);
  } finally {
    for (const p of [clean, page]) if (p) await p.close().catch(() => {});
    if (snd) await snd.stop();
    if (weak.ctx) await weak.ctx.close().catch(() => {});
    if (weak.rl) weak.rl.close();
    if (weak.lk) log(`linkem layers weak: ${await linkDown(weak.lk)}`);
    if (weak.ns.up) {
      try { sh(['ip', 'netns', 'del', weak.ns.name]); } catch (_) {}
      weak.ns.up = false;
    }
    log(`linkem layers: ${await linkDown(lk)}`);
  }
}

// --ci-rate: the encoder target follows a cap down and comes back when it
// lifts, as meteredsink's metered/target-changed messages tell (posted on
// moves of more than a quarter: 1 Mbit/s -> under 750 kbit/s is under the
// 800 kbit/s cap, and the way back up is another such move).
async function ciRate(o, ctx, port, exe) {
  const cap = 800;
  const channel = `impair-rate-${process.pid}`;
  const lk = await linkUp(o.linkem, { delay: 10, rate: cap, queue: 100 }, o.seed);
  const targets = [];
  let snd = null, page = null;
  try {
    snd = await senderA(o, port, exe, channel, o.pluginPath, (line) => {
      const m = /metered\/target-changed.*target-bitrate=\(guint64\)(\d+)/.exec(line);
      if (m) {
        targets.push(Number(m[1]));
        log(`encoder target ${m[1]} bit/s`);
      }
      return !!m;
    });
    page = await openPage(ctx, `http://127.0.0.1:${port}/page.html?channel=${channel}`, 'viewer',
      `&token=${mint(exe, 'm-viewer')}`);
    await waitFor(() => `the viewer to decode\n${snd.output.slice(-3000)}`, 60,
      async () => (await decoded(page)) > 0);
    await waitFor(() => `the encoder target to go under the ${cap} kbit/s cap (targets ${targets})`,
      60, () => targets.some((t) => t < cap * 1000));
    const underCap = await decoded(page);
    const n = targets.length;
    lk.child.stdin.write('rate 0\n');
    await waitFor(() => `the encoder target to come back to >= 800 kbit/s once the cap lifted ` +
      `(targets ${targets})`, 60, () => targets.slice(n).some((t) => t >= 800000));
    const frames = await decoded(page);
    if (!(frames > underCap)) throw new Error(`the viewer stopped decoding (${underCap} -> ${frames} frames)`);
    log(`PASS: encoder targets ${targets.join(', ')} bit/s; ${frames} frames decoded`);
  } finally {
    if (page) await page.close().catch(() => {});
    if (snd) await snd.stop();
    log(`linkem: ${await linkDown(lk)}`);
  }
}

const TWCC_URI = 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01';

// What an SDP's video m-line says of TWCC: the extension's id and the
// payload types with rtcp-fb transport-cc.
function twccOf(sdp) {
  const video = sdp.split(/\r?\nm=/).find((m) => m.startsWith('video')) || '';
  const ext = new RegExp(`a=extmap:(\\d+)(/\\w+)? ${TWCC_URI.replace(/\./g, '\\.')}`).exec(video);
  const fb = [...video.matchAll(/a=rtcp-fb:(\d+) transport-cc/g)].map((m) => Number(m[1]));
  return { id: ext ? Number(ext[1]) : null, fb };
}

async function ciTwcc(o, ctx, port, exe) {
  const cap = 600;
  const channel = `impair-twcc-${process.pid}`;
  const lk = await linkUp(o.linkem, { delay: 10, rate: cap, queue: 100 }, o.seed);
  let snd = null, page = null;
  const status = () => JSON.stringify(snd && snd.status);
  try {
    snd = startTool(o.sinkTool, ['--url', `ws://127.0.0.1:${port}`, '--token', mint(exe, 'a-gst'),
      '--channel', channel, '--pattern', 'smpte', '--width', '640', '--height', '360',
      '--duration', '170', '--status-ms', '250']);
    children.add(snd.child);
    snd.child.on('close', () => children.delete(snd.child));
    page = await openPage(ctx, `http://127.0.0.1:${port}/page.html?channel=${channel}`, 'viewer',
      `&token=${mint(exe, 'm-viewer')}`);
    await waitFor(() => `the viewer to decode\n${snd.output.slice(-3000)}`, 60,
      async () => (await decoded(page)) > 0);
    // ours is the offer (remote to the viewer), the viewer's the answer
    const sdps = await page.evaluate(() => window.peer.remotePeers.filter((rp) => rp.pc &&
      rp.pc.remoteDescription).map((rp) => [rp.pc.remoteDescription.sdp, rp.pc.localDescription.sdp]));
    if (sdps.length !== 1) throw new Error(`expected one connection to the sender, got ${sdps.length}`);
    for (const [which, sdp] of [['offer', sdps[0][0]], ['answer', sdps[0][1]]]) {
      const t = twccOf(sdp);
      if (t.id === null || t.fb.length === 0) {
        throw new Error(`the ${which}'s video m-line has no transport-wide-cc ` +
          `(extmap id ${t.id}, rtcp-fb transport-cc on ${JSON.stringify(t.fb)}):\n${sdp}`);
      }
      log(`${which}: transport-wide-cc id ${t.id}, rtcp-fb transport-cc on ${t.fb.join(' ')}`);
    }
    await waitFor(() => `the viewer's TWCC feedback to reach its rate estimator (status ${status()})`,
      30, () => snd.status && snd.status.viewers.some((v) => v.twccFeedback > 0));
    await waitFor(() => `the encoder target to go under the ${cap} kbit/s cap (status ${status()})`,
      60, () => snd.status && snd.status.encoderTarget > 0 && snd.status.encoderTarget < cap * 1000);
    const under = await decoded(page);
    log(`under the cap: ${status()}`);
    await waitFor(() => `the viewer to keep decoding under the cap (${under} frames)`, 30,
      async () => (await decoded(page)) > under + 30);
    log(`PASS: TWCC negotiated, ${snd.status.viewers[0].twccFeedback} feedback messages fed, ` +
      `encoder target ${snd.status.encoderTarget} bit/s under the ${cap} kbit/s cap`);
  } finally {
    if (page) await page.close().catch(() => {});
    if (snd) await stopTool(snd);
    log(`linkem: ${await linkDown(lk)}`);
  }
}

const f1 = (v) => (v === null || v === undefined ? '-' : Number(v).toFixed(1));
const f0 = (v) => (v === null || v === undefined ? '-' : Number(v).toFixed(0));

function table(rows) {
  const head = ['profile', 'sender', 'fps', 'freezes', 'freeze s', 'lost', 'NACKs', 'rtx rcvd',
    'PLIs', 'keys', 'dropped', 'kbit/s', 'JB ms', 'JB tgt ms', 'RTT ms', 'width', 'max gap ms', 'resyncs', 'bad',
    'pts back'];
  const lines = [head];
  for (const r of rows) {
    const m = r.m;
    lines.push([r.profile, r.sender, f1(m.fps), f0(m.freezes), f1(m.freezeS), f0(m.lost),
      f0(m.nacks), f0(m.rtx), f0(m.plis), f0(m.keys), f0(m.dropped), f0(m.kbps), f0(m.jbMs),
      f0(m.jbTargetMs), f0(m.rttMs),
      f0(m.width), f0(m.longestMs), f0(m.resyncs), f0(m.badResyncs), f0(m.backwards)]);
  }
  const w = head.map((_, i) => Math.max(...lines.map((l) => String(l[i]).length)));
  return lines.map((l) => l.map((c, i) => String(c).padStart(w[i])).join('  ')).join('\n');
}

function ratios(rows) {
  const out = [];
  for (const p of new Set(rows.map((r) => r.profile))) {
    const b = rows.find((r) => r.profile === p && r.sender === 'b');
    for (const x of ['a', 'a0']) {
      const a = rows.find((r) => r.profile === p && r.sender === x);
      if (!a || !b) continue;
      const fr = b.m.freezeS > 0 ? (a.m.freezeS / b.m.freezeS).toFixed(2)
        : (a.m.freezeS > 0 ? 'inf (b: 0)' : '1.00 (both 0)');
      out.push(`${p}: freeze duration ${x}/b ${fr}; frames decoded ${x}/b ` +
        `${b.m.frames > 0 ? (a.m.frames / b.m.frames).toFixed(2) : '-'}`);
    }
    // meteredsrc next to Chromium as the viewer of the same sender
    for (const [x, y] of [['c', 'a'], ['c0', 'a0']]) {
      const c = rows.find((r) => r.profile === p && r.sender === x);
      const a = rows.find((r) => r.profile === p && r.sender === y);
      if (!c || !a) continue;
      out.push(`${p}: viewer meteredsrc (${x}) vs Chromium (${y}): fps ${f1(c.m.fps)} / ${f1(a.m.fps)}, ` +
        `freeze s ${f1(c.m.freezeS)} / ${f1(a.m.freezeS)}, longest gap ${f0(c.m.longestMs)} ms (${x})`);
    }
  }
  return out.join('\n');
}

async function main() {
  const o = args();
  const exe = requireEnv('METERED_SERVER');
  checkNamespace();
  const tmp = o.tmp = tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-impair-'));
  let srv = null, ctx = null, rl = null, ok = false;
  const rows = [];
  try {
    srv = startServer(exe, prepareWebRoot(tmp), tmp);
    const port = await srv.port;
    const file = o.senders.includes('b') ? y4m(tmp) : null;
    viewerNsUp();
    rl = relay(tmp, port);
    await rl.ready;
    if (o.senders.some((x) => !x.startsWith('c'))) ctx = await chromium(tmp, 'viewer', [], VIEWER_NS);
    if (o.ciRate || o.ciLayers || o.ciTwcc) o.profiles = [];
    if (o.ciRate) await ciRate(o, ctx, port, exe);
    if (o.ciTwcc) await ciTwcc(o, ctx, port, exe);
    if (o.ciLayers) await layersCi(o, ctx, port, exe);
    for (const profile of o.profiles) {
      for (const sender of o.senders) {
        for (const [label, m] of await run(o, ctx, port, exe, tmp, file, profile, sender)) {
          const who = label ? `${sender}:${label}` : sender;
          rows.push({ profile, sender: who, m });
          log(`${profile} ${who}: ${JSON.stringify(m)}`);
        }
      }
    }
    if (!o.ciRate && !o.ciLayers && !o.ciTwcc) console.log(`\nviewer getStats over ${o.duration} s per run (a: meteredsink, a0: before, b: Chromium -> Chromium; c, c0: meteredsink -> meteredsrc, freezes = output gaps > 100 ms)\n` +
      table(rows) + '\n' + ratios(rows));
    if (o.ci) {
      const m = rows[0].m;
      // Recovery, not timing: NACKs went out, retransmissions came back,
      // and the video kept moving (before NACK/RTX: ~1 frame/s here).
      if (!(m.lost > 0)) throw new Error(`the link lost no packet (${JSON.stringify(m)})`);
      if (!(m.nacks > 0)) throw new Error(`the viewer sent no NACK (${JSON.stringify(m)})`);
      if (!(m.rtx > 0)) throw new Error(`no NACK was answered with a retransmission (${JSON.stringify(m)})`);
      if (!(m.frames >= o.duration * 5)) {
        throw new Error(`the video stalled: ${m.frames} frames in ${o.duration} s (${JSON.stringify(m)})`);
      }
      // The viewer waits for what it asked again: its jitter buffer holds
      // at least a round trip (meteredsink's playout delay; without it
      // Chromium, which cannot measure our round trip, held ~12 ms here
      // and skipped or stalled on every frame behind a loss).
      if (!(m.jbTargetMs >= m.rttMs)) {
        throw new Error(`the viewer's jitter buffer (${f0(m.jbTargetMs)} ms) is shorter than the ` +
          `round trip (${f0(m.rttMs)} ms): retransmissions come too late (${JSON.stringify(m)})`);
      }
      log(`PASS: ${m.lost} packets lost, ${m.nacks} NACKs, ${m.rtx} retransmissions received, ` +
        `${m.frames} frames decoded, jitter buffer ${f0(m.jbTargetMs)} ms for a ${f0(m.rttMs)} ms round trip`);
    }
    if (o.ciRecv) {
      const m = rows[0].m;
      const j = JSON.stringify(m);
      // What a user of the pad sees, not timing: losses came through
      // unrepaired (else this run proves nothing), each ended at a key
      // frame, frames kept coming to the end, time only went forward.
      if (!(m.resyncs >= 1)) throw new Error(`no unrepaired loss reached the pad (${j})`);
      if (m.badResyncs !== 0) throw new Error(`${m.badResyncs} delta frame(s) pushed right after a loss (${j})`);
      if (m.backwards !== 0) throw new Error(`running time went backwards ${m.backwards} time(s) (${j})`);
      if (!(m.frames >= o.duration * 2)) throw new Error(`the video stalled: ${m.frames} frames in ${o.duration} s (${j})`);
      if (!(m.lastPts - m.firstPts >= (o.duration - 3) * 1e6)) {
        throw new Error(`frames stopped coming before the end of the run (${j})`);
      }
      log(`PASS: ${m.resyncs} losses resolved at a key frame, ${m.frames} frames, longest gap ` +
        `${m.longestMs.toFixed(0)} ms`);
    }
    ok = true;
  } catch (e) {
    console.error(`${ts()} FAIL: ${e && e.stack || e}`);
  } finally {
    if (ctx) await ctx.close().catch(() => {});
    if (rl) rl.close();
    viewerNsDown();
    if (srv) await stopServer(srv);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return ok ? 0 : 1;
}

// The viewer's namespace is named (a mount under /run/netns): it must go
// however this ends.
function abort(why) {
  console.error(`${ts()} FAIL: ${why}`);
  if (live.server && !live.server.exit) live.server.child.kill('SIGKILL');
  for (const c of children) c.kill('SIGKILL');
  viewerNsDown();
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
  process.exit(1);
}
// --ci-layers and --ci-rate wait on conditions in turn (meson's timeout: 180 s).
const guard = setTimeout(() => abort('overall time limit reached'),
  Number(process.env.IMPAIR_LIMIT_S || (['--ci-layers', '--ci-rate', '--ci-twcc'].some((x) => process.argv.includes(x)) ? 170 : 100)) * 1000);
process.on('SIGTERM', () => abort('terminated'));
process.on('SIGINT', () => abort('interrupted'));
main().then((rc) => { clearTimeout(guard); process.exit(rc); },
  (e) => { console.error(`${ts()} FAIL: ${e && e.stack || e}`); process.exit(1); });
