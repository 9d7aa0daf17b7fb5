// gst-metered — LGPL-2.1-or-later
//
// meteredsrc pads-by-role=true (issue 13), both ends ours, inside
// netns-run.sh's namespace: meteredsink A (publishable key, role=camera)
// feeds video_camera; a second sender B with the same role joins (a
// reloaded page: a new peer id AND new track ids) and takes the pad over
// (metered/pad-takeover names B and A); A stops. Passes when there is ONE
// video pad, video_camera, over the whole run, frames keep coming on it
// after the takeover and after A left, and it never got EOS, flush or
// PTS going backwards.
//
// argv: PATH/TO/meteredsrc-tool. Env as tests/meson.build js_env plus
// GST_PLUGIN_PATH.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { ts, log, live, requireEnv, checkNamespace, stopServer } = require('../js/lib/interop.cjs');
const { startTool, waitFor, padSummary, startServerOn, startSink } = require('./src-lib.cjs');

const KEY = 'pk_dev_local';
const VIDEO = 'video_camera';

async function main() {
  const exe = requireEnv('METERED_SERVER');
  requireEnv('GST_PLUGIN_PATH');
  const tool = process.argv[2];
  if (!tool || !fs.existsSync(tool)) throw new Error('usage: src-role.cjs PATH/TO/meteredsrc-tool');
  checkNamespace();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-src-role-'));
  const webRoot = path.join(tmp, 'www');
  fs.mkdirSync(webRoot);
  const channel = `src-role-${process.pid}`;
  const problems = [];
  let srv = null;
  let t = null;
  const sinks = [];
  let ok = false;
  try {
    srv = startServerOn(exe, webRoot, tmp, 0);
    live.server = srv;
    const port = await srv.port;
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
    if (problems.length) throw new Error(problems.join('\n'));
    ok = true;
  } catch (e) {
    console.error(`${ts()} FAIL: ${e && e.stack || e}`);
    if (t) console.error(`---- tool output (tail) ----\n${t.output.slice(-8000)}`);
  } finally {
    if (t) await t.stop();
    for (const s of sinks) await s.stop();
    if (srv) {
      const exit = await stopServer(srv);
      if (!exit || exit.code !== 0) ok = false;
      if (!ok) console.error('---- metered-server output (tail) ----\n' + srv.output.slice(-3000).trimEnd());
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  log(ok ? 'PASS meteredsrc pads-by-role: one video_camera pad across senders' :
    'FAIL meteredsrc pads-by-role');
  return ok ? 0 : 1;
}

const guard = setTimeout(() => {
  console.error(`${ts()} FAIL: overall time limit (115 s) reached`);
  if (live.server && !live.server.exit) live.server.child.kill('SIGKILL');
  process.exit(1);
}, 115000);
main().then((rc) => { clearTimeout(guard); process.exit(rc); },
  (e) => { console.error(`${ts()} FAIL: ${e && e.stack || e}`); process.exit(1); });
