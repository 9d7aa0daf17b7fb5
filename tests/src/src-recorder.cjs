// gst-metered — LGPL-2.1-or-later
//
// Recorder continuity: `meteredsrc output=encoded ! matroskamux ! filesink`
// records a browser's camera (real Chromium + SDK, metered-server, inside
// netns-run.sh's namespace) while, during the recording:
//   (a) the element's signalling socket is dropped (admin API, retryable
//       close 1001);
//   (b) metered-server is SIGKILLed and restarted on the same port 2 s
//       later (it has lost every membership);
//   (c) the media path is cut for 5 s (UDP between the namespace's
//       addresses silently dropped by policy routing, see mediaCut; the
//       signalling stays up).
// Passes when the pipeline never errors, the recorded pad never gets EOS,
// a flush or a timestamp going backwards before the final "eos"; frames
// keep arriving after every fault; and the file is one recording:
// gst-discoverer-1.0 reports a duration matching the wall time of the
// recording (within the cuts), and a demux pass (matroskademux, a probe)
// finds as many frames as went in, in PTS order, with no gap longer than
// the media cut.
//
// argv: PATH/TO/meteredsrc-tool. Env as tests/meson.build js_env plus
// GST_PLUGIN_PATH.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const {
  ts, log, live, requireEnv, checkNamespace, prepareWebRoot, stopServer, launchChromium, openPage,
  mediaCut, ipv4Only,
} = require('../js/lib/interop.cjs');
const { mint, startTool, waitFor, padSummary, startServerOn, admin } = require('./src-lib.cjs');

const PAD = 'video_b-alice_camera';
const GST_ID = 'a-gst-rec';
const MEDIA_CUT_S = 5;

// gst-discoverer-1.0 (Debian: gstreamer1.0-plugins-base-apps), or the same
// GstDiscoverer query through meteredsrc-tool --discover where it is absent.
function discovererDuration(tool, file) {
  let out;
  try {
    out = execFileSync('gst-discoverer-1.0', [file], { timeout: 30000 }).toString();
  } catch (e) {
    if (e.code !== 'ENOENT') throw e;
    log('gst-discoverer-1.0 is not installed: asking GstDiscoverer through meteredsrc-tool --discover');
    const r = JSON.parse(execFileSync(tool, ['--discover', file], { timeout: 30000 }).toString().trim());
    if (r.error) throw new Error(`GstDiscoverer: ${r.error}`);
    return { seconds: r.duration, via: 'GstDiscoverer' };
  }
  const m = /Duration: (\d+):(\d+):(\d+(?:\.\d+)?)/.exec(out);
  if (!m) throw new Error(`gst-discoverer-1.0 reports no duration:\n${out}`);
  return { seconds: +m[1] * 3600 + +m[2] * 60 + +m[3], via: 'gst-discoverer-1.0' };
}

async function main() {
  const exe = requireEnv('METERED_SERVER');
  requireEnv('GST_PLUGIN_PATH');
  const tool = process.argv[2];
  if (!tool || !fs.existsSync(tool)) throw new Error('usage: src-recorder.cjs PATH/TO/meteredsrc-tool');
  checkNamespace();
  ipv4Only(); // before any connection exists: see interop.cjs
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-src-recorder-'));
  const file = path.join(tmp, 'recording.mkv');
  const webRoot = prepareWebRoot(tmp);
  let srv = null;
  let ctx = null;
  let t = null;
  let ok = false;
  const problems = [];
  try {
    srv = startServerOn(exe, webRoot, tmp, 0);
    live.server = srv;
    const port = await srv.port;
    ctx = await launchChromium(tmp);
    const channel = `src-rec-${process.pid}`;
    await openPage(ctx, `http://127.0.0.1:${port}/page.html?channel=${channel}&send=1`, 'alice',
      `&token=${encodeURIComponent(mint(exe, 'b-alice'))}`);

    t = startTool(tool, ['--record', file, '--', `url=ws://127.0.0.1:${port}`,
      `token=${mint(exe, GST_ID)}`, `channel=${channel}`, 'output=encoded',
      'reconnect-initial-delay=250', 'reconnect-max-delay=2000'], 'rec');
    const pad = () => t.pad(PAD);
    const frames = () => (pad() ? pad().buffers : 0);
    const reconnects = () => t.count('bus', (e) => e.name === 'metered/connected' &&
      /is-reconnect=\(boolean\)true/.test(e.structure));
    // The longest stretch without a frame, sampled from the status lines.
    let maxIdle = 0;
    const idleWatch = setInterval(() => {
      if (pad() && pad().idleMs > maxIdle) maxIdle = pad().idleMs;
    }, 100);
    const stillRecording = (what) => {
      const p = pad();
      if (!p) return;
      if (p.eos || p.removed) problems.push(`${what}: the recorded pad ended (eos ${p.eos}, removed ${p.removed})`);
      if (p.flushes) problems.push(`${what}: ${p.flushes} flush events`);
      if (p.backwards) problems.push(`${what}: ${p.backwards} timestamps went backwards`);
      if (t.count('error')) problems.push(`${what}: bus errors ${JSON.stringify(t.events.filter((e) => e.event === 'error'))}`);
      if (t.has('eos-message')) problems.push(`${what}: the pipeline went EOS`);
    };
    const flowsAgain = async (what, n = 60) => {
      const from = frames();
      const t0 = Date.now();
      await waitFor(() => frames() >= from + n, 40000, `${n} frames after ${what}`, () => padSummary(t));
      log(`${what}: ${n} more frames within ${((Date.now() - t0) / 1000).toFixed(2)} s; ` +
        `longest pause so far ${maxIdle} ms; ${padSummary(t)}`);
      stillRecording(what);
    };

    try {
      await waitFor(() => frames() >= 60, 40000, `60 frames on ${PAD}`, () => padSummary(t));
      log(`recording: ${padSummary(t)}`);
      stillRecording('start');

      log('--- (a) signalling socket dropped');
      const ourId = t.status.peerId || GST_ID;
      const status = await admin(port, 'POST', `/v1/peers/${encodeURIComponent(ourId)}/drop`);
      if (status !== 204) problems.push(`admin drop of ${ourId} answered ${status}`);
      await waitFor(() => reconnects() >= 1, 30000, 'the element to reconnect');
      await flowsAgain('(a) socket drop');
      const idleA = maxIdle;

      log('--- (b) metered-server SIGKILLed, restarted on the same port');
      srv.child.kill('SIGKILL');
      await srv.exited;
      await new Promise((r) => setTimeout(r, 2000));
      srv = startServerOn(exe, webRoot, tmp, port);
      live.server = srv;
      await srv.port;
      await waitFor(() => reconnects() >= 2, 40000, 'the element to reconnect to the new server');
      await flowsAgain('(b) server restart');
      const idleB = maxIdle;

      log(`--- (c) media path cut for ${MEDIA_CUT_S} s`);
      const cutFrom = frames();
      const keysBefore = pad().keys;
      mediaCut(true);
      await new Promise((r) => setTimeout(r, MEDIA_CUT_S * 1000));
      mediaCut(false);
      log(`media path back after ${MEDIA_CUT_S} s (${frames() - cutFrom} frames arrived during the cut)`);
      if (frames() - cutFrom > 10) problems.push(`the media cut did not cut: ${frames() - cutFrom} frames`);
      await flowsAgain('(c) media cut', 90);
      // Frames were lost: the pad waited for a key frame (asked at once).
      if (pad().keys <= keysBefore) problems.push('no key frame after the media cut');

      // Wall time of the recording: pipeline running time now minus the
      // first frame's (running-time) timestamp.
      const last = pad();
      const wall = t.status.runningTime - last.firstPts;
      log(`stopping: wall time of the recording ${wall.toFixed(2)} s, ${last.buffers} frames, ` +
        `PTS ${last.firstPts}..${last.lastPts}, pauses: (a) ${idleA} ms, (b) ${idleB} ms, overall ${maxIdle} ms`);
      t.send('eos');
      await waitFor(() => t.has('eos-message') || t.has('eos-timeout'), 25000, 'EOS through the muxer');
      await t.exited;
      if (!t.has('eos-message')) problems.push('EOS never reached the end of the recording pipeline');
      if (t.count('error')) problems.push(`bus errors ${JSON.stringify(t.events.filter((e) => e.event === 'error'))}`);
      const final = t.pad(PAD);
      if (final.backwards) problems.push(`${final.backwards} timestamps went backwards`);
      if (final.eos !== 1) problems.push(`the pad saw ${final.eos} EOS events`);

      // The file: one recording, as long as the wall time.
      const disc = discovererDuration(tool, file);
      const pts = final.lastPts - final.firstPts;
      log(`${disc.via}: duration ${disc.seconds.toFixed(3)} s (pad PTS span ${pts.toFixed(3)} s, ` +
        `wall ${wall.toFixed(3)} s)`);
      if (Math.abs(disc.seconds - pts) > 1.0 && Math.abs(disc.seconds - final.lastPts) > 1.0) {
        problems.push(`file duration ${disc.seconds} s does not match the PTS span ${pts} s`);
      }
      if (pts < wall - MEDIA_CUT_S - 3 || pts > wall + 1.5) {
        problems.push(`recording spans ${pts.toFixed(2)} s of a ${wall.toFixed(2)} s wall time (cut ${MEDIA_CUT_S} s)`);
      }
      const out = execFileSync(tool, ['--verify', file], { timeout: 60000 }).toString();
      const verify = JSON.parse(out.trim().split('\n').pop());
      log(`demux pass: ${JSON.stringify(verify)}`);
      if (verify.error || verify.tracks.length !== 1) problems.push(`demux: ${JSON.stringify(verify)}`);
      else {
        const tr = verify.tracks[0];
        if (tr.backwards) problems.push(`demux: ${tr.backwards} PTS out of order`);
        if (Math.abs(tr.frames - final.buffers) > final.buffers * 0.02 + 2) {
          problems.push(`demux found ${tr.frames} frames, ${final.buffers} went in`);
        }
        if (tr.maxInterval > MEDIA_CUT_S + 3) problems.push(`demux: a ${tr.maxInterval} s hole`);
      }
    } finally {
      clearInterval(idleWatch);
    }
    if (problems.length) throw new Error(problems.join('\n'));
    ok = true;
  } catch (e) {
    console.error(`${ts()} FAIL: ${e && e.stack || e}`);
    if (t) console.error(`---- meteredsrc-tool output (tail) ----\n${t.output.slice(-15000)}`);
  } finally {
    if (t) await t.stop();
    if (ctx) await ctx.close().catch(() => {});
    if (srv) {
      const exit = await stopServer(srv);
      if (!exit || exit.code !== 0) ok = false;
      if (!ok) console.error('---- metered-server output (tail) ----\n' + srv.output.slice(-3000).trimEnd());
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  log(ok ? 'PASS meteredsrc recorder continuity' : 'FAIL meteredsrc recorder continuity');
  return ok ? 0 : 1;
}

const guard = setTimeout(() => {
  console.error(`${ts()} FAIL: overall time limit (140 s) reached`);
  if (live.server && !live.server.exit) live.server.child.kill('SIGKILL');
  process.exit(1);
}, 140000);
main().then((rc) => { clearTimeout(guard); process.exit(rc); },
  (e) => { console.error(`${ts()} FAIL: ${e && e.stack || e}`); process.exit(1); });
