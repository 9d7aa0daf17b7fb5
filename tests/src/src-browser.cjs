// gst-metered — LGPL-2.1-or-later
//
// meteredsrc against headless Chromium running the real @metered-ca/realtime
// SDK, through metered-server, inside the namespace netns-run.sh makes.
// Browsers send the fake camera with metadata {role:'camera'} under JWT
// subs, so meteredsrc's pads are named video_<sub>_camera.
//
// argv: PATH/TO/meteredsrc-tool SCENARIO
//
//  pads: gst-launch-1.0 `meteredsrc name=s ... s.video_b-alice_camera ! queue
//        ! fakesink num-buffers=30` links by name when the pad appears and
//        runs to EOS. output=decoded: alice's camera arrives on video_b-alice_camera and
//        decodes (raw caps, >= 30 frames, timestamps on the pipeline clock,
//        the pad answers LATENCY live >= 100 ms, EOS on "eos"). output=encoded: alice and bob -> two pads with
//        encoded caps and frames (>= 30, key frames); bob's page closes ->
//        his pad gets EOS and is removed while alice's keeps flowing.
//        peer-id=b-bob stream-role=camera on another element: bob's pad only.
//        An upstream force-key-unit on a pad brings a key frame from the
//        browser (PLI through the connection). Application data both ways: send-data (direct and broadcast)
//        reaches alice's SDK, her sendTo/send arrive as the data signal.
//  keep: keep-pads-on-leave=true: alice's page closes -> peer-left, her pad
//        stays (no EOS) and sends GAP events; she comes back (same sub, a
//        new page, new track ids) -> the same pad carries her camera again,
//        DISCONT after the gap, timestamps never backwards, no second pad.
//  anon: issue 13. A page on a publishable key (a new peer id on every
//        connection) recorded by meteredsrc (api-key, output=encoded) into
//        matroskamux; metered-server SIGKILLed and restarted, then the
//        browser's own socket dropped (admin API): the SDK comes back under
//        new peer ids with the same MediaStreamTrack, which continues on the
//        ONE video pad (no EOS, flush or PTS going back); the file holds
//        the frames after both, in PTS order, over the wall time.
//  reload: issue 13, pads-by-role=true. The same page and recording; the
//        page reloads (a new peer id AND new track ids): the new peer takes
//        video_camera over (metered/pad-takeover), the only video pad, which
//        never ends before the EOS; the file holds the frames after the
//        reload, in PTS order, over the wall time.
//
// Env as tests/meson.build js_env, plus GST_PLUGIN_PATH.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, execFileSync } = require('child_process');
const {
  ts, log, live, requireEnv, checkNamespace, prepareWebRoot, stopServer, launchChromium, openPage,
} = require('../js/lib/interop.cjs');
const { mint, startTool, waitFor, padSummary, startServerOn, gstLaunchEnv, admin } = require('./src-lib.cjs');

const FRAMES = 30;

function toolArgs(port, exe, channel, sub, extra) {
  return ['--', `url=ws://127.0.0.1:${port}`, `token=${mint(exe, sub)}`, `channel=${channel}`,
    'dead-peer-timeout=2000', ...extra];
}

function checkClean(t, problems) {
  if (t.count('error')) problems.push(`${t.name}: bus errors: ${JSON.stringify(t.events.filter((e) => e.event === 'error'))}`);
  for (const [n, p] of Object.entries(t.status ? t.status.pads : {})) {
    if (p.backwards) problems.push(`${t.name}: pad ${n}: ${p.backwards} timestamps went backwards`);
    if (p.flushes) problems.push(`${t.name}: pad ${n}: ${p.flushes} flush events`);
  }
}

async function scenarioPads(ctx, exe, tool, port) {
  const channel = `src-pads-${process.pid}`;
  const base = `http://127.0.0.1:${port}/page.html?channel=${encodeURIComponent(channel)}&send=1`;
  const problems = [];
  const alice = await openPage(ctx, base, 'alice', `&token=${encodeURIComponent(mint(exe, 'b-alice'))}`);

  // 0. gst-launch-1.0's delayed linking by pad name
  log('--- gst-launch-1.0 with a delayed link to s.video_b-alice_camera');
  {
    const pipeline = ['meteredsrc', 'name=s', `url=ws://127.0.0.1:${port}`,
      `token=${mint(exe, 'a-gst-launch')}`, `channel=${channel}`, 'output=encoded',
      's.video_b-alice_camera', '!', 'queue', '!', 'fakesink', 'num-buffers=30'];
    const t0 = Date.now();
    let out = '';
    const code = await new Promise((resolve) => {
      const child = spawn('gst-launch-1.0', pipeline, { stdio: ['ignore', 'pipe', 'pipe'], env: gstLaunchEnv() });
      const kill = setTimeout(() => child.kill('SIGKILL'), 40000);
      child.stdout.on('data', (d) => { out += d; });
      child.stderr.on('data', (d) => { out += d; });
      child.on('close', (c) => { clearTimeout(kill); resolve(c); });
    });
    log(`gst-launch-1.0 exited ${code} after ${((Date.now() - t0) / 1000).toFixed(2)} s`);
    if (code !== 0 || !/Got EOS from element/.test(out)) {
      throw new Error(`gst-launch-1.0 ${pipeline.join(' ')} did not link and run to EOS:\n${out.slice(-4000)}`);
    }
  }

  // 1. decoded
  log('--- output=decoded');
  let t = startTool(tool, toolArgs(port, exe, channel, 'a-gst-src', ['output=decoded']), 'decoded');
  await withTool(t, async () => {
    const pad = 'video_b-alice_camera';
    const t0 = Date.now();
    await waitFor(() => t.pad(pad) && t.pad(pad).buffers >= FRAMES, 40000, `${FRAMES} decoded frames on ${pad}`,
      () => padSummary(t));
    const p = t.pad(pad);
    log(`decoded: ${p.buffers} frames after ${((Date.now() - t0) / 1000).toFixed(2)} s, caps ${p.caps}, ` +
      `clock - PTS ${p.delayMinMs}..${p.delayMaxMs} ms`);
    if (!/^video\/x-raw/.test(p.caps || '')) problems.push(`decoded pad caps ${p.caps}`);
    if (p.delayMinMs < -200 || p.delayMaxMs > 3000) {
      problems.push(`decoded buffers are not on the pipeline clock: clock - PTS ${p.delayMinMs}..${p.delayMaxMs} ms`);
    }
    await waitFor(() => t.pad(pad).latencyMs !== undefined, 5000, 'the LATENCY query on the pad');
    log(`LATENCY query on ${pad}: live ${t.pad(pad).live}, min ${t.pad(pad).latencyMs} ms`);
    if (!t.pad(pad).live || t.pad(pad).latencyMs < 100) {
      problems.push(`LATENCY: live ${t.pad(pad).live}, min ${t.pad(pad).latencyMs} ms (expected live, >= 100 ms)`);
    }
    t.send('eos');
    await waitFor(() => t.has('eos-message') || t.has('eos-timeout'), 25000, 'EOS after "eos"');
    if (!t.has('eos-message')) problems.push('decoded: EOS sent to the pipeline never came out');
    await t.exited;
    checkClean(t, problems);
  });
  if (problems.length) throw new Error(problems.join('\n') + '\n' + t.output.slice(-8000));

  // 2. encoded, two browsers, then one leaves
  log('--- output=encoded, two browsers');
  const bob = await openPage(ctx, base, 'bob', `&token=${encodeURIComponent(mint(exe, 'b-bob'))}`);
  t = startTool(tool, toolArgs(port, exe, channel, 'a-gst-src2', ['output=encoded']), 'encoded');
  // The filters, on a second element in the same channel: bob only.
  const filtered = startTool(tool, toolArgs(port, exe, channel, 'a-gst-src3',
    ['output=encoded', 'peer-id=b-bob', 'stream-role=camera']), 'filtered');
  await withTool(filtered, async () => {
    await waitFor(() => filtered.pad('video_b-bob_camera') && filtered.pad('video_b-bob_camera').buffers >= 10,
      45000, 'bob\'s pad on the filtered element', () => padSummary(filtered));
    const names = Object.keys(filtered.status.pads);
    log(`peer-id=b-bob stream-role=camera: pads ${names.join(', ')}`);
    if (names.length !== 1) problems.push(`peer-id/stream-role filter let through ${names.join(', ')}`);
  });
  await withTool(t, async () => {
    const pa = 'video_b-alice_camera';
    const pb = 'video_b-bob_camera';
    await waitFor(() => t.pad(pa) && t.pad(pb) && t.pad(pa).buffers >= FRAMES && t.pad(pb).buffers >= FRAMES,
      45000, 'frames on both browsers\' pads', () => padSummary(t));
    for (const n of [pa, pb]) {
      const p = t.pad(n);
      log(`encoded ${n}: ${p.buffers} frames, ${p.keys} key, caps ${p.caps}`);
      if (!/^video\/x-(vp8|vp9|h264)/.test(p.caps || '')) problems.push(`${n}: caps ${p.caps}`);
      if (/^video\/x-h264/.test(p.caps || '') && !/stream-format=\(string\)avc/.test(p.caps)) {
        problems.push(`${n}: H.264 not avc: ${p.caps}`);
      }
      if (p.keys < 1) problems.push(`${n}: no key frame`);
    }
    const pads = Object.keys(t.status.pads);
    if (pads.length !== 2) problems.push(`expected 2 pads, got ${pads.join(', ')}`);

    log('--- a key frame asked for downstream reaches the browser (PLI)');
    for (let attempt = 1; ; attempt++) {
      const keys = t.pad(pa).keys;
      t.send(`key-unit ${pa}`);
      const got = await waitFor(() => t.pad(pa).keys > keys, 3000, 'a key frame').then(() => true, () => false);
      if (got) {
        log(`key frame ${t.pad(pa).keys} after the request (attempt ${attempt})`);
        break;
      }
      if (attempt === 3) {
        problems.push('three force-key-unit requests brought no key frame');
        break;
      }
    }

    log('--- application data both ways');
    await alice.evaluate(() => {
      window.received = [];
      window.peer.on('data', (e) => window.received.push({ from: e.senderPeerId, data: e.data, kind: e.kind }));
    });
    t.send('send-data b-alice {"to":"alice"}');
    t.send('send-data - {"to":"everybody"}');
    await alice.evaluate(async () => {
      await window.peer.sendTo('a-gst-src2', { from: 'alice', direct: true });
      await window.peer.send({ from: 'alice', direct: false });
    });
    await waitFor(() => t.has('data', (e) => e.from === 'b-alice' && e.kind === 'direct') &&
      t.has('data', (e) => e.from === 'b-alice' && e.kind === 'broadcast'), 10000,
    'the data signal (direct and broadcast) from alice');
    const got = await waitFor(async () => {
      const r = await alice.evaluate(() => window.received);
      return r.length >= 2 ? r : null;
    }, 10000, 'alice to receive send-data (direct and broadcast)');
    log(`alice received ${JSON.stringify(got)}`);
    if (!got.some((e) => e.from === 'a-gst-src2' && e.kind === 'direct' && e.data.to === 'alice') ||
        !got.some((e) => e.from === 'a-gst-src2' && e.kind === 'broadcast' && e.data.to === 'everybody')) {
      problems.push(`alice received ${JSON.stringify(got)}`);
    }
    const direct = t.events.find((e) => e.event === 'data' && e.kind === 'direct');
    if (JSON.parse(direct.data).from !== 'alice') problems.push(`data signal carried ${direct.data}`);

    log('--- bob leaves');
    await bob.close();
    const aliceBefore = t.pad(pa).buffers;
    await waitFor(() => t.pad(pb).eos >= 1 && t.pad(pb).removed, 30000, `EOS and removal of ${pb}`,
      () => padSummary(t));
    await waitFor(() => t.pad(pa).buffers >= aliceBefore + FRAMES, 15000, `${pa} still flowing`,
      () => padSummary(t));
    if (t.pad(pa).eos || t.pad(pa).removed) problems.push(`${pa} ended with bob`);
    if (!t.has('peer-left', (e) => e.peer === 'b-bob')) problems.push('no peer-left signal for b-bob');
    checkClean(t, problems);
  });
  if (problems.length) throw new Error(problems.join('\n') + '\n' + t.output.slice(-8000));
  await alice.close();
}

async function scenarioKeep(ctx, exe, tool, port) {
  const channel = `src-keep-${process.pid}`;
  const base = `http://127.0.0.1:${port}/page.html?channel=${encodeURIComponent(channel)}&send=1`;
  const query = `&token=${encodeURIComponent(mint(exe, 'b-alice'))}`;
  const problems = [];
  const pad = 'video_b-alice_camera';
  let alice = await openPage(ctx, base, 'alice', query);
  const t = startTool(tool, toolArgs(port, exe, channel, 'a-gst-keep',
    ['output=encoded', 'keep-pads-on-leave=true', 'gap-timeout=500']), 'keep');
  await withTool(t, async () => {
    await waitFor(() => t.pad(pad) && t.pad(pad).buffers >= FRAMES, 40000, `${FRAMES} frames on ${pad}`,
      () => padSummary(t));

    log('--- alice leaves');
    await alice.close();
    await waitFor(() => t.has('peer-left', (e) => e.peer === 'b-alice'), 30000, 'peer-left for b-alice');
    const gaps = t.pad(pad).gaps;
    await waitFor(() => t.pad(pad).gaps >= gaps + 3, 10000, 'GAP events on the kept pad', () => padSummary(t));
    if (t.pad(pad).eos || t.pad(pad).removed) problems.push(`${pad} ended although kept`);

    log('--- alice comes back (new page, same sub)');
    const before = t.pad(pad).buffers;
    const discont = t.pad(pad).discont;
    alice = await openPage(ctx, base, 'alice-again', query);
    await waitFor(() => t.pad(pad).buffers >= before + FRAMES, 40000, `frames again on ${pad}`,
      () => padSummary(t));
    const p = t.pad(pad);
    log(`kept pad: ${p.buffers} frames, ${p.gaps} GAP events, ${p.discont} DISCONT, caps events ${p.capsEvents}`);
    if (p.discont <= discont) problems.push('no DISCONT after the gap');
    if (p.eos || p.removed) problems.push(`${pad} ended`);
    const others = Object.keys(t.status.pads).filter((n) => n !== pad);
    if (others.length) problems.push(`the returning peer got new pads: ${others.join(', ')}`);
    checkClean(t, problems);
  });
  if (problems.length) throw new Error(problems.join('\n') + '\n' + t.output.slice(-8000));
  await alice.close();
}

// The end of a one-pad recording: the pad still open, EOS through the
// muxer, then the file: one track, PTS in order, the frames that went in,
// spanning the wall time since wall0 (about FRAMES frames after its start).
async function endRecording(t, tool, file, pad, wall0, problems) {
  const p = t.pad(pad);
  if (p.eos || p.removed) problems.push(`${pad} ended: ${JSON.stringify(p)}`);
  checkClean(t, problems);
  t.send('eos');
  await waitFor(() => t.has('eos-message') || t.has('eos-timeout'), 25000, 'EOS through the muxer');
  await t.exited;
  const wall = (Date.now() - wall0) / 1000;
  if (!t.has('eos-message')) problems.push('EOS never reached the end of the recording pipeline');
  const verify = JSON.parse(execFileSync(tool, ['--verify', file], { timeout: 60000 }).toString().trim()
    .split('\n').pop());
  log(`file: ${JSON.stringify(verify.tracks)}; ${wall.toFixed(1)} s of wall time since the first ${FRAMES} frames`);
  if (verify.error || verify.tracks.length !== 1) {
    problems.push(`demux ${JSON.stringify(verify)}`);
    return;
  }
  const tr = verify.tracks[0];
  const went = t.pad(pad).buffers;
  log(`file spans ${(tr.lastPts - tr.firstPts).toFixed(2)} s against ${wall.toFixed(1)} s of wall time; ` +
    `${tr.frames} frames in the file, ${went} went in`);
  if (tr.backwards) problems.push(`${tr.backwards} PTS out of order in the file`);
  if (Math.abs(tr.frames - went) > went * 0.02 + 2) problems.push(`${tr.frames} frames in the file, ${went} went in`);
  if (tr.lastPts - tr.firstPts < wall - 1.5) problems.push(`file spans ${tr.lastPts - tr.firstPts} s, ${wall} s of wall time`);
}

async function scenarioAnon(ctx, exe, tool, port, env) {
  const channel = `src-anon-${process.pid}`;
  const base = `http://127.0.0.1:${port}/page.html?channel=${encodeURIComponent(channel)}&send=1`;
  const problems = [];
  const file = path.join(env.tmp, 'anon.mkv');
  const t = startTool(tool, ['--record', file, '--mux', 'matroskamux', '--', `url=ws://127.0.0.1:${port}`,
    'api-key=pk_dev_local', `channel=${channel}`, 'output=encoded', 'reconnect-initial-delay=250',
    'reconnect-max-delay=2000'], 'anon');
  let page = null;
  await withTool(t, async () => {
    await waitFor(() => t.has('bus', (e) => e.name === 'metered/connected'), 20000, 'meteredsrc to connect');
    page = await openPage(ctx, base, 'anon', '');
    const videoPads = () => t.events.filter((e) => e.event === 'pad-added' && /^video_/.test(e.pad)).map((e) => e.pad);
    await waitFor(() => videoPads().length && t.pad(videoPads()[0]) && t.pad(videoPads()[0]).buffers >= FRAMES,
      40000, `${FRAMES} frames`, () => padSummary(t));
    const pad = videoPads()[0];
    const wall0 = Date.now();
    const joined = () => t.events.filter((e) => e.event === 'peer-joined').map((e) => e.peer);
    const after = async (what) => {
      const n = joined().length;
      await waitFor(() => joined().length > n, 40000, `the browser back under a new peer id after ${what}`);
      const at = t.pad(pad).buffers;
      await waitFor(() => t.pad(pad).buffers >= at + 2 * FRAMES, 40000, `frames on ${pad} after ${what}`,
        () => padSummary(t));
      log(`after ${what}: ${t.pad(pad).buffers - at} frames on ${pad} since the rejoin; ${padSummary(t)}`);
    };
    log('--- metered-server SIGKILL + restart');
    await env.restart();
    await after('the server restart');
    log('--- the browser\'s socket dropped');
    const id = joined().slice(-1)[0];
    const st = await admin(port, 'POST', `/v1/peers/${id}/drop`);
    if (st !== 204) problems.push(`drop ${id}: HTTP ${st}`);
    await after('the socket drop');
    if (videoPads().length !== 1) problems.push(`video pads: ${JSON.stringify(videoPads())}`);
    await endRecording(t, tool, file, pad, wall0, problems);
  });
  if (problems.length) throw new Error(problems.join('\n') + '\n' + t.output.slice(-8000));
  await page.close();
}

async function scenarioReload(ctx, exe, tool, port, env) {
  const channel = `src-reload-${process.pid}`;
  const base = `http://127.0.0.1:${port}/page.html?channel=${encodeURIComponent(channel)}&send=1`;
  const problems = [];
  const file = path.join(env.tmp, 'reload.mkv');
  const pad = 'video_camera';
  const t = startTool(tool, ['--record', file, '--mux', 'matroskamux', '--', `url=ws://127.0.0.1:${port}`,
    'api-key=pk_dev_local', `channel=${channel}`, 'output=encoded', 'pads-by-role=true',
    'dead-peer-timeout=2000'], 'reload');
  let page = null;
  await withTool(t, async () => {
    await waitFor(() => t.has('bus', (e) => e.name === 'metered/connected'), 20000, 'meteredsrc to connect');
    page = await openPage(ctx, base, 'reload', '');
    const videoPads = () => t.events.filter((e) => e.event === 'pad-added' && /^video_/.test(e.pad)).map((e) => e.pad);
    await waitFor(() => t.pad(pad) && t.pad(pad).buffers >= FRAMES, 40000, `${FRAMES} frames on ${pad}`,
      () => padSummary(t));
    const wall0 = Date.now();
    const joined = () => t.events.filter((e) => e.event === 'peer-joined').map((e) => e.peer);
    const first = await page.evaluate(() => window.interop.peerId);

    log('--- the page reloads (a new peer id, new track ids)');
    const discont = t.pad(pad).discont;
    const resp = await page.reload();
    if (!resp || resp.status() !== 200) throw new Error(`reload: HTTP ${resp && resp.status()}`);
    await page.waitForFunction(() => window.interop && (window.interop.ready || window.interop.errors.length),
      null, { timeout: 15000 });
    const st = await page.evaluate(() => ({ id: window.interop.peerId, errors: window.interop.errors }));
    if (st.errors.length) throw new Error(`reloaded page: ${st.errors.join(' | ')}`);
    log(`page reloaded: ${first} -> ${st.id}`);
    if (st.id === first) problems.push(`the reloaded page kept its peer id ${first}`);
    const isTake = (e) => e.name === 'metered/pad-takeover' && /kind=\(string\)video/.test(e.structure);
    await waitFor(() => t.has('bus', isTake), 30000, 'metered/pad-takeover for video', () => padSummary(t));
    const take = t.events.find((e) => e.event === 'bus' && isTake(e));
    log(`takeover: ${take.structure}; peers ${JSON.stringify(joined())}`);
    if (!take.structure.includes(`peer-id=(string)${st.id}`) ||
        !take.structure.includes(`previous-peer-id=(string)${first}`) ||
        !take.structure.includes(`pad=(string)${pad}`)) {
      problems.push(`takeover ${take.structure}, peers ${first} then ${st.id}`);
    }
    const at = t.pad(pad).buffers;
    await waitFor(() => t.has('peer-left', (e) => e.peer === first), 20000, `peer-left for ${first}`);
    const leftAt = Date.now();
    // Past the old peer's pads' wait (dead-peer-timeout) for a newcomer: nothing ends.
    await waitFor(() => t.pad(pad).buffers >= at + 4 * FRAMES, 40000, `frames on ${pad} after the reload`,
      () => padSummary(t));
    await new Promise((r) => setTimeout(r, Math.max(1000, 3000 - (Date.now() - leftAt))));
    const afterReload = t.pad(pad).buffers - at;
    log(`after the reload: ${afterReload} frames on ${pad} since the takeover; ${padSummary(t)}`);
    if (t.pad(pad).discont <= discont) problems.push('no DISCONT after the takeover');
    if (videoPads().length !== 1 || videoPads()[0] !== pad) problems.push(`video pads: ${JSON.stringify(videoPads())}`);
    await endRecording(t, tool, file, pad, wall0, problems);
  });
  if (problems.length) throw new Error(problems.join('\n') + '\n' + t.output.slice(-8000));
  await page.close();
}

// Runs fn; an exception carries the tail of the tool's output.
async function withTool(t, fn) {
  try {
    return await fn();
  } catch (e) {
    e.message += `\n---- ${t.name} output (tail) ----\n${t.output.slice(-12000)}`;
    throw e;
  } finally {
    await t.stop();
  }
}

async function main() {
  const exe = requireEnv('METERED_SERVER');
  requireEnv('GST_PLUGIN_PATH');
  const [tool, scenario] = process.argv.slice(2);
  if (!tool || !fs.existsSync(tool) || !['pads', 'keep', 'anon', 'reload'].includes(scenario)) {
    throw new Error('usage: src-browser.cjs PATH/TO/meteredsrc-tool pads|keep|anon|reload');
  }
  checkNamespace();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-src-browser-'));
  let srv = null;
  let ctx = null;
  let ok = false;
  try {
    const webRoot = prepareWebRoot(tmp);
    srv = startServerOn(exe, webRoot, tmp, 0);
    live.server = srv;
    const port = await srv.port;
    ctx = await launchChromium(tmp);
    const restart = async () => {
      srv.child.kill('SIGKILL');
      await srv.exited;
      await new Promise((r) => setTimeout(r, 2000));
      srv = startServerOn(exe, webRoot, tmp, port);
      live.server = srv;
      await srv.port;
    };
    if (scenario === 'pads') await scenarioPads(ctx, exe, tool, port);
    else if (scenario === 'keep') await scenarioKeep(ctx, exe, tool, port);
    else if (scenario === 'anon') await scenarioAnon(ctx, exe, tool, port, { tmp, restart });
    else await scenarioReload(ctx, exe, tool, port, { tmp });
    ok = true;
  } catch (e) {
    console.error(`${ts()} FAIL: ${e && e.stack || e}`);
  } finally {
    if (ctx) await ctx.close().catch(() => {});
    if (srv) {
      const exit = await stopServer(srv);
      if (!exit || exit.code !== 0) ok = false;
      if (!ok) console.error('---- metered-server output (tail) ----\n' + srv.output.slice(-4000).trimEnd());
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  log(ok ? `PASS meteredsrc ${scenario}` : `FAIL meteredsrc ${scenario}`);
  return ok ? 0 : 1;
}

const guard = setTimeout(() => {
  console.error(`${ts()} FAIL: overall time limit (115 s) reached`);
  if (live.server && !live.server.exit) live.server.child.kill('SIGKILL');
  process.exit(1);
}, 115000);
main().then((rc) => { clearTimeout(guard); process.exit(rc); },
  (e) => { console.error(`${ts()} FAIL: ${e && e.stack || e}`); process.exit(1); });
