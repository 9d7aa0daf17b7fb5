// gst-metered — LGPL-2.1-or-later
//
// Encoded output into real muxers, both ends ours (meteredsink in
// gst-launch-1.0 -> metered-server -> meteredsrc output=encoded), inside
// netns-run.sh's namespace:
//   1. H.264 + Opus -> matroskamux, two tracks, through a signalling drop
//      of meteredsrc and a metered-server SIGKILL + restart;
//   2. VP8 + Opus -> webmmux, through a signalling drop.
// Passes when the muxers accept the pads' caps (H.264 as avc/au, Opus),
// the pipeline never errors or ends early, and each file demuxes into two
// tracks with the frames that went in, in PTS order, with a duration
// (gst-discoverer-1.0, or GstDiscoverer where it is not installed) that
// matches the recorded span.
//
// argv: PATH/TO/meteredsrc-tool. Env as tests/meson.build js_env plus
// GST_PLUGIN_PATH.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const { ts, log, live, requireEnv, checkNamespace, stopServer } = require('../js/lib/interop.cjs');
const { mint, startTool, waitFor, padSummary, startServerOn, admin, startSink } = require('./src-lib.cjs');

const VIDEO = 'video_z-sink_camera';
const AUDIO = 'audio_z-sink_camera';

function duration(tool, file) {
  try {
    const out = execFileSync('gst-discoverer-1.0', [file], { timeout: 30000 }).toString();
    const m = /Duration: (\d+):(\d+):(\d+(?:\.\d+)?)/.exec(out);
    if (!m) throw new Error(`gst-discoverer-1.0 reports no duration:\n${out}`);
    return +m[1] * 3600 + +m[2] * 60 + +m[3];
  } catch (e) {
    if (e.code !== 'ENOENT') throw e;
    const r = JSON.parse(execFileSync(tool, ['--discover', file], { timeout: 30000 }).toString().trim());
    if (r.error) throw new Error(`GstDiscoverer: ${r.error}`);
    return r.duration;
  }
}

async function record(ctx, { name, codec, mux, file, faults, videoCaps }) {
  const { exe, tool, tmp, webRoot, problems } = ctx;
  const channel = `src-rec-${name}-${process.pid}`;
  log(`--- ${name}: ${codec} + Opus -> ${mux}`);
  const t = startTool(tool, ['--record', file, '--record-audio', '--mux', mux, '--',
    `url=ws://127.0.0.1:${ctx.port}`, `token=${mint(exe, 'a-src')}`, `channel=${channel}`,
    'output=encoded', 'reconnect-initial-delay=250', 'reconnect-max-delay=2000'], name);
  let sink = null;
  try {
    await waitFor(() => t.has('bus', (e) => e.name === 'metered/connected'), 20000, 'meteredsrc to connect');
    // After meteredsrc's subscription is visible (see src-sink.cjs).
    await new Promise((r) => setTimeout(r, 300));
    sink = startSink(ctx.port, mint(exe, 'z-sink'), channel, codec);
    const v = () => (t.pad(VIDEO) ? t.pad(VIDEO).buffers : 0);
    const a = () => (t.pad(AUDIO) ? t.pad(AUDIO).buffers : 0);
    const more = async (what) => {
      const v0 = v();
      const a0 = a();
      await waitFor(() => v() >= v0 + 60 && a() >= a0 + 100, 40000, `media after ${what}`, () => padSummary(t));
      for (const n of [VIDEO, AUDIO]) {
        const p = t.pad(n);
        if (p.eos || p.removed || p.flushes || p.backwards) problems.push(`${name}: ${what}: ${n} ${JSON.stringify(p)}`);
      }
      if (t.count('error')) problems.push(`${name}: ${what}: errors ${JSON.stringify(t.events.filter((e) => e.event === 'error'))}`);
      log(`${name}: ${what}: ${padSummary(t)}`);
    };
    await more('start');
    for (const [n, re] of [[VIDEO, videoCaps], [AUDIO, /^audio\/x-opus/]]) {
      if (!re.test(t.pad(n).caps || '')) problems.push(`${name}: ${n} caps ${t.pad(n).caps}`);
    }
    const reconnects = () => t.count('bus', (e) => e.name === 'metered/connected' &&
      /is-reconnect=\(boolean\)true/.test(e.structure));
    for (const f of faults) {
      const r0 = reconnects();
      await f.run(ctx);
      // Media does not need the socket: wait for meteredsrc to be back,
      // then for media after that.
      await waitFor(() => reconnects() > r0, 30000, `meteredsrc to reconnect after ${f.what}`);
      await more(f.what);
    }
    t.send('eos');
    await waitFor(() => t.has('eos-message') || t.has('eos-timeout'), 25000, 'EOS through the muxer');
    await t.exited;
    if (!t.has('eos-message')) problems.push(`${name}: EOS never reached the end of the recording pipeline`);
    if (t.count('error')) problems.push(`${name}: errors ${JSON.stringify(t.events.filter((e) => e.event === 'error'))}`);

    const verify = JSON.parse(execFileSync(tool, ['--verify', file], { timeout: 60000 }).toString().trim()
      .split('\n').pop());
    const secs = duration(tool, file);
    log(`${name}: duration ${secs.toFixed(3)} s; demux ${JSON.stringify(verify.tracks)}`);
    if (verify.error || verify.tracks.length !== 2) {
      problems.push(`${name}: demux ${JSON.stringify(verify)}`);
    } else {
      const span = t.pad(VIDEO).lastPts - t.pad(VIDEO).firstPts;
      for (const tr of verify.tracks) {
        const pad = /^video/.test(tr.caps) ? VIDEO : AUDIO;
        const went = t.pad(pad).buffers;
        if (tr.backwards) problems.push(`${name}: ${pad}: ${tr.backwards} PTS out of order in the file`);
        if (Math.abs(tr.frames - went) > went * 0.02 + 2) {
          problems.push(`${name}: ${pad}: ${tr.frames} frames in the file, ${went} went in`);
        }
      }
      if (Math.abs(secs - span) > 1.0) problems.push(`${name}: duration ${secs} s, video PTS span ${span} s`);
    }
  } finally {
    await t.stop();
    if (sink) {
      if (sink.exit) problems.push(`${name}: the sender exited early: ${sink.output.slice(-2000)}`);
      await sink.stop();
    }
    if (problems.length) log(`${name} tool output (tail):\n${t.output.slice(-6000)}`);
  }
}

async function main() {
  const exe = requireEnv('METERED_SERVER');
  requireEnv('GST_PLUGIN_PATH');
  const tool = process.argv[2];
  if (!tool || !fs.existsSync(tool)) throw new Error('usage: src-sink-record.cjs PATH/TO/meteredsrc-tool');
  checkNamespace();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-src-sink-rec-'));
  const webRoot = path.join(tmp, 'www');
  fs.mkdirSync(webRoot);
  const ctx = { exe, tool, tmp, webRoot, problems: [], srv: null, port: 0 };
  let ok = false;
  const dropSrc = {
    what: 'meteredsrc socket dropped',
    run: async (c) => {
      const st = await admin(c.port, 'POST', '/v1/peers/a-src/drop');
      if (st !== 204) c.problems.push(`drop a-src: HTTP ${st}`);
    },
  };
  const restart = {
    what: 'metered-server SIGKILL + restart',
    run: async (c) => {
      c.srv.child.kill('SIGKILL');
      await c.srv.exited;
      await new Promise((r) => setTimeout(r, 2000));
      c.srv = startServerOn(c.exe, c.webRoot, c.tmp, c.port);
      live.server = c.srv;
      await c.srv.port;
    },
  };
  try {
    ctx.srv = startServerOn(exe, webRoot, tmp, 0);
    live.server = ctx.srv;
    ctx.port = await ctx.srv.port;
    await record(ctx, { name: 'mkv', codec: 'h264', mux: 'matroskamux', file: path.join(tmp, 'a.mkv'),
      faults: [dropSrc, restart],
      videoCaps: /^video\/x-h264, .*stream-format=\(string\)avc.*alignment=\(string\)au|^video\/x-h264, .*alignment=\(string\)au.*stream-format=\(string\)avc/ });
    await record(ctx, { name: 'webm', codec: 'vp8', mux: 'webmmux', file: path.join(tmp, 'b.webm'),
      faults: [dropSrc], videoCaps: /^video\/x-vp8/ });
    if (ctx.problems.length) throw new Error(ctx.problems.join('\n'));
    ok = true;
  } catch (e) {
    console.error(`${ts()} FAIL: ${e && e.stack || e}`);
  } finally {
    if (ctx.srv) {
      const exit = await stopServer(ctx.srv);
      if (!exit || exit.code !== 0) ok = false;
      if (!ok) console.error('---- metered-server output (tail) ----\n' + ctx.srv.output.slice(-3000).trimEnd());
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  log(ok ? 'PASS meteredsink -> meteredsrc -> matroskamux/webmmux' : 'FAIL meteredsink -> meteredsrc -> muxers');
  return ok ? 0 : 1;
}

const guard = setTimeout(() => {
  console.error(`${ts()} FAIL: overall time limit (115 s) reached`);
  if (live.server && !live.server.exit) live.server.child.kill('SIGKILL');
  process.exit(1);
}, 115000);
main().then((rc) => { clearTimeout(guard); process.exit(rc); },
  (e) => { console.error(`${ts()} FAIL: ${e && e.stack || e}`); process.exit(1); });
