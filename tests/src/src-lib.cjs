// gst-metered — LGPL-2.1-or-later
//
// Shared pieces of the meteredsrc interop tests: meteredsrc-tool as a child
// process (JSON lines in, commands out), condition waits, tokens, and
// metered-server on a fixed port (so it can be killed and restarted where
// the clients expect it).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');
const { spawn, execFileSync } = require('child_process');
const { ts, log, live, requireEnv, checkNamespace, stopServer } = require('../js/lib/interop.cjs');

function mint(exe, sub) {
  return execFileSync(exe, ['--mint-token', '--dev', '--sub', sub, '--ttl', '900'])
    .toString().trim();
}

// Runs meteredsrc-tool; keeps the latest status, every other event, and
// the tail of its output (stderr carries GST_DEBUG).
function startTool(tool, args, name = 'gst') {
  const env = { ...process.env };
  env.GST_DEBUG = env.GST_DEBUG || 'meteredsrc:5,meteredpadbridge:4,metered-session:4,metered-runtime:4';
  env.GST_DEBUG_NO_COLOR = '1';
  const child = spawn(tool, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
  const t = { name, child, status: null, events: [], output: '', exit: null };
  const keep = (s) => {
    t.output += s;
    if (t.output.length > 400000) t.output = t.output.slice(-300000);
  };
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let e = null;
      try { e = JSON.parse(line); } catch (_) { keep(line + '\n'); continue; }
      if (e.event === 'status') { t.status = e; continue; }
      t.events.push(e);
      keep(line + '\n');
      if (e.event !== 'bus' || /peer|connected|disconnected|swapped/.test(e.name)) {
        log(`[${name}] ${line.length > 300 ? line.slice(0, 300) + '…' : line}`);
      }
    }
  });
  child.stderr.on('data', (d) => keep(d.toString()));
  t.exited = new Promise((r) => child.on('close', (code, signal) => {
    t.exit = { code, signal };
    r(t.exit);
  }));
  t.send = (cmd) => { if (!t.exit) child.stdin.write(cmd + '\n'); };
  t.pad = (n) => (t.status && t.status.pads[n]) || null;
  t.has = (ev, pred = () => true) => t.events.some((e) => e.event === ev && pred(e));
  t.count = (ev, pred = () => true) => t.events.filter((e) => e.event === ev && pred(e)).length;
  t.stop = async () => {
    if (!t.exit) {
      t.send('quit');
      const k = setTimeout(() => child.kill('SIGKILL'), 15000);
      await t.exited;
      clearTimeout(k);
    }
  };
  return t;
}

// Polls fn (sync or async) every 100 ms until it returns truthy.
async function waitFor(fn, ms, what, describe = () => '') {
  const deadline = Date.now() + ms;
  let lastLog = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what} ${describe()}`);
    if (Date.now() - lastLog > 3000) {
      lastLog = Date.now();
      log(`waiting for ${what} ${describe()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function padSummary(t) {
  if (!t.status) return '(no status yet)';
  return JSON.stringify(Object.fromEntries(Object.entries(t.status.pads).map(([n, p]) =>
    [n, { buffers: p.buffers, keys: p.keys, discont: p.discont, gaps: p.gaps, eos: p.eos,
      removed: p.removed, backwards: p.backwards, idleMs: p.idleMs, caps: (p.caps || '').slice(0, 40) }])));
}

// The environment of gst-launch-1.0 children: with a sanitized build of the
// plugin, its runtimes preloaded (leaks of gst-launch-1.0 itself are not
// ours to count).
function gstLaunchEnv() {
  const env = { ...process.env };
  if (env.METERED_SANITIZER_PRELOAD) {
    env.LD_PRELOAD = env.METERED_SANITIZER_PRELOAD;
    env.ASAN_OPTIONS = 'detect_leaks=0';
  }
  return env;
}

// meteredsink in gst-launch-1.0: a live 30 fps ball (320x240) and ticks,
// encoded to videoCodec (vp8, h264) and Opus, metadata role=camera; props
// are more meteredsink properties (later ones win).
// token: a JWT, or { apiKey } for a publishable key (a new peer id on
// every connection).
function startSink(port, token, channel, videoCodec = 'vp8', props = []) {
  const auth = typeof token === 'object' ? `api-key=${token.apiKey}` : `token=${token}`;
  const args = ['-q', 'videotestsrc', 'is-live=true', 'pattern=ball', '!',
    'video/x-raw,width=320,height=240,framerate=30/1', '!',
    'meteredsink', 'name=s', `url=ws://127.0.0.1:${port}`, auth, `channel=${channel}`,
    `video-codec=${videoCodec}`, 'stream-metadata=meta,role=camera', 'reconnect-initial-delay=250',
    'reconnect-max-delay=2000', ...props, 'audiotestsrc', 'is-live=true', 'wave=ticks', '!', 's.'];
  const child = spawn('gst-launch-1.0', args, { stdio: ['ignore', 'pipe', 'pipe'], env: gstLaunchEnv() });
  const sink = { child, output: '', exit: null };
  const keep = (d) => {
    sink.output += d.toString();
    if (sink.output.length > 100000) sink.output = sink.output.slice(-50000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  sink.exited = new Promise((r) => child.on('close', (code, signal) => {
    sink.exit = { code, signal };
    r(sink.exit);
  }));
  sink.stop = async () => {
    if (sink.exit) return;
    child.kill('SIGINT');
    const k = setTimeout(() => child.kill('SIGKILL'), 5000);
    await sink.exited;
    clearTimeout(k);
  };
  return sink;
}

// metered-server on a given port (0: any), --dev, serving webRoot.
function startServerOn(exe, webRoot, tmp, port) {
  const portFile = path.join(tmp, `port-${Date.now()}`);
  const args = ['--port', String(port), '--port-file', portFile, '--dev', '--web-root', webRoot,
    '--ip-connect-limit', '0'];
  log(`starting ${exe} ${args.join(' ')}`);
  const child = spawn(exe, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const srv = { child, output: '', exit: null };
  const keep = (d) => { srv.output += d.toString(); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  srv.exited = new Promise((resolve) => child.on('close', (code, signal) => {
    srv.exit = { code, signal };
    resolve(srv.exit);
  }));
  srv.port = waitFor(() => {
    if (srv.exit) throw new Error(`metered-server exited early (${JSON.stringify(srv.exit)})\n${srv.output}`);
    const txt = fs.existsSync(portFile) ? fs.readFileSync(portFile, 'utf8').trim() : '';
    return /^\d+$/.test(txt) && +txt > 0 ? +txt : 0;
  }, 15000, 'metered-server --port-file');
  return srv;
}

// An admin API call on metered-server --dev; resolves to the HTTP status.
function admin(port, method, urlPath) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath,
      headers: { Authorization: 'Bearer admin_dev_local' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end();
  });
}

// The main of a test against metered-server --dev with scenarios
// (argv: PATH/TO/meteredsrc-tool SCENARIO): a scenario gets
// { exe, tool, tmp, webRoot, port, problems, restart () } (restart:
// SIGKILL, 2 s, the server again on the same port) and fails by throwing or
// adding to problems; the process exits 0 on a pass, within 115 s.
function runServerTest(name, scenarios) {
  const main = async () => {
    const exe = requireEnv('METERED_SERVER');
    requireEnv('GST_PLUGIN_PATH');
    const [tool, scenario] = process.argv.slice(2);
    if (!tool || !fs.existsSync(tool) || !scenarios[scenario]) {
      throw new Error(`usage: ${name}.cjs PATH/TO/meteredsrc-tool ${Object.keys(scenarios).join('|')}`);
    }
    checkNamespace();
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `metered-${name}-`));
    const webRoot = path.join(tmp, 'www');
    fs.mkdirSync(webRoot);
    const c = { exe, tool, tmp, webRoot, port: 0, problems: [], srv: null };
    c.restart = async () => {
      c.srv.child.kill('SIGKILL');
      await c.srv.exited;
      await new Promise((r) => setTimeout(r, 2000));
      c.srv = startServerOn(exe, webRoot, tmp, c.port);
      live.server = c.srv;
      await c.srv.port;
    };
    let ok = false;
    try {
      c.srv = startServerOn(exe, webRoot, tmp, 0);
      live.server = c.srv;
      c.port = await c.srv.port;
      await scenarios[scenario](c);
      if (c.problems.length) throw new Error(c.problems.join('\n'));
      ok = true;
    } catch (e) {
      console.error(`${ts()} FAIL: ${e && e.stack || e}`);
    } finally {
      if (c.srv) {
        const exit = await stopServer(c.srv);
        if (!exit || exit.code !== 0) ok = false;
        if (!ok) console.error('---- metered-server output (tail) ----\n' + c.srv.output.slice(-3000).trimEnd());
      }
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    log(`${ok ? 'PASS' : 'FAIL'} ${name} ${scenario}`);
    return ok ? 0 : 1;
  };
  runMain(main, 115000);
}

// Stops metered-server; FALSE if it did not exit cleanly. Its output's
// tail is printed when the test failed or it did not.
async function stopServerChecked(srv, ok) {
  const exit = await stopServer(srv);
  const clean = !!exit && exit.code === 0;
  if (!ok || !clean) console.error('---- metered-server output (tail) ----\n' + srv.output.slice(-3000).trimEnd());
  return clean;
}

// Runs main() (resolving to an exit status) and exits with it, or with 1
// once limitMs passed (the server SIGKILLed, so that it leaves no child).
function runMain(main, limitMs) {
  const guard = setTimeout(() => {
    console.error(`${ts()} FAIL: overall time limit (${limitMs / 1000} s) reached`);
    if (live.server && !live.server.exit) live.server.child.kill('SIGKILL');
    process.exit(1);
  }, limitMs);
  main().then((rc) => { clearTimeout(guard); process.exit(rc); },
    (e) => { console.error(`${ts()} FAIL: ${e && e.stack || e}`); process.exit(1); });
}

module.exports = {
  runServerTest,
  mint, startTool, waitFor, padSummary, startServerOn, admin, gstLaunchEnv, startSink,
  stopServerChecked, runMain,
};
