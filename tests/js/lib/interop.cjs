// gst-metered — LGPL-2.1-or-later
//
// Shared pieces of the browser interop tests: the namespace check, the
// temporary web root with the real SDK bundle, metered-server as a child
// process, and headless Debian Chromium driven by playwright-core.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, execFileSync } = require('child_process');

const CHROMIUM = '/usr/bin/chromium';
const WAIT_S = Number(process.env.METERED_BROWSER_TIMEOUT_S || 60);
const NETNS_ADDR = /^10\.99\.0\.[12]$/;
const T0 = Date.now();
const ts = () => ((Date.now() - T0) / 1000).toFixed(2).padStart(6);
const log = (...a) => console.log(ts(), ...a);
const live = { server: null }; // killed by the overall time guard

function skipOrFail(reason) {
  if (process.env.CI) {
    console.error(`FAIL: ${reason} (CI is set: nothing may skip)`);
    process.exit(1);
  }
  console.log(`SKIP: ${reason}`);
  process.exit(77);
}

function requireEnv(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`FAIL: environment variable ${name} is not set (run through meson test)`);
    process.exit(1);
  }
  return v;
}

// The test must never run WebRTC on the machine's own interfaces.
function checkNamespace() {
  const addrs = [];
  for (const [name, list] of Object.entries(os.networkInterfaces())) {
    for (const a of list) if (!a.internal && a.family === 'IPv4') addrs.push(`${name}=${a.address}`);
  }
  const foreign = addrs.filter((x) => !NETNS_ADDR.test(x.split('=')[1]));
  if (addrs.length === 0 || foreign.length) {
    throw new Error(`not inside netns-run.sh's namespace (IPv4 interfaces: ${addrs.join(' ') || 'none'})`);
  }
  log(`network namespace ok: ${addrs.join(' ')}`);
}

function prepareWebRoot(tmp) {
  const sdkMain = require.resolve('@metered-ca/realtime'); // <pkg>/dist/index.cjs
  const umd = path.join(path.dirname(sdkMain), 'index.umd.js');
  const version = require(path.join(path.dirname(sdkMain), '..', 'package.json')).version;
  const root = path.join(tmp, 'www');
  fs.mkdirSync(root);
  const src = path.join(requireEnv('METERED_SOURCE_ROOT'), 'tests', 'browser', 'www');
  for (const f of fs.readdirSync(src)) fs.copyFileSync(path.join(src, f), path.join(root, f));
  fs.copyFileSync(umd, path.join(root, 'metered-realtime.umd.js'));
  log(`web root ${root}: page.html + @metered-ca/realtime ${version} UMD bundle`);
  return root;
}

// port 0 picks a free one; a restart passes the port it had. extra: more
// options (tests/ice binds --host 0.0.0.0 inside its own namespace).
function startServer(exe, webRoot, tmp, port = 0, extra = []) {
  const portFile = path.join(tmp, 'port');
  if (fs.existsSync(portFile)) fs.rmSync(portFile);
  const args = ['--port', String(port), '--port-file', portFile, '--dev', '--web-root', webRoot,
                '--ip-connect-limit', '0', ...extra];
  log(`starting ${exe} ${args.join(' ')}`);
  const child = spawn(exe, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const srv = { child, output: '', exit: null };
  live.server = srv;
  const keep = (d) => { srv.output += d.toString(); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  srv.exited = new Promise((resolve) => child.on('close', (code, signal) => {
    srv.exit = { code, signal };
    resolve(srv.exit);
  }));
  srv.port = (async () => {
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline) {
      if (srv.exit) throw new Error(`metered-server exited early (${JSON.stringify(srv.exit)})`);
      const txt = fs.existsSync(portFile) ? fs.readFileSync(portFile, 'utf8').trim() : '';
      if (/^\d+$/.test(txt) && +txt > 0) return +txt;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('metered-server wrote no --port-file within 15 s');
  })();
  return srv;
}

async function stopServer(srv) {
  if (!srv.exit) {
    srv.child.kill('SIGTERM');
    const t = setTimeout(() => srv.child.kill('SIGKILL'), 10000);
    await srv.exited;
    clearTimeout(t);
  }
  return srv.exit;
}

function summarize(stats) {
  return Object.entries(stats).map(([id, r]) => {
    const p = r.pair ? `${r.pair.local.type}/${r.pair.local.address}:${r.pair.local.port}` +
      ` <-> ${r.pair.remote.type}/${r.pair.remote.address}:${r.pair.remote.port}` : 'no pair';
    return `${id}: ${r.conn}/${r.ice} dec=${r.framesDecoded} enc=${r.framesEncoded}` +
      `${r.codec ? ' ' + r.codec : ''} [${p}]`;
  }).join('; ') || 'no remote peers';
}


const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

// Debian's chromium with a fresh profile under tmp (never a downloaded one).
async function launchChromium(tmp) {
  const { chromium } = require('playwright-core');
  const userDataDir = path.join(tmp, 'chromium-profile');
  fs.mkdirSync(userDataDir);
  const ctx = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS,
  });
  log(`chromium ${ctx.browser() ? ctx.browser().version() : ''} launched (${CHROMIUM})`);
  return ctx;
}

// Opens page.html with query and waits until it joined (or failed).
async function openPage(ctx, base, name, query) {
  const page = await ctx.newPage();
  page.on('console', (m) => { if (/^\[interop\]/.test(m.text())) log(`[${name}] ${m.text()}`); });
  page.on('pageerror', (e) => log(`[${name}] PAGEERROR ${e}`));
  const resp = await page.goto(base + query);
  if (!resp || resp.status() !== 200) {
    throw new Error(`GET page.html from metered-server's --web-root: HTTP ${resp && resp.status()}`);
  }
  await page.waitForFunction(() => window.interop && (window.interop.ready || window.interop.errors.length),
    null, { timeout: 15000 });
  const st = await page.evaluate(() => ({ id: window.interop.peerId, errors: window.interop.errors }));
  if (st.errors.length) throw new Error(`page ${name}: ${st.errors.join(' | ')}`);
  log(`page ${name} joined as ${st.id}`);
  return page;
}

// Problems with the selected ICE pairs: every address must be the veth's.
function pairProblems(name, stats) {
  const problems = [];
  for (const [id, r] of Object.entries(stats)) {
    if (!r.pair) continue;
    for (const side of ['local', 'remote']) {
      const a = r.pair[side].address;
      if (!NETNS_ADDR.test(String(a))) {
        problems.push(`page ${name} -> ${id}: selected pair ${side} address ${a} is not 10.99.0.1/10.99.0.2`);
      }
    }
  }
  return problems;
}

// The media path cut. Both ends live in this one namespace, so their UDP
// between 10.99.0.1 and 10.99.0.2 is local traffic: taking the veth down
// does not stop it, and this kernel has neither netem nor netfilter. So a
// policy rule ahead of the local table sends UDP for 10.99.0.0/24 out
// through v0 as if it were remote; it comes back in on v1, where the same
// rule makes it non-local, and with forwarding off the kernel drops it.
// Senders see no error (as on a real dead path); the signalling (TCP on
// 127.0.0.1) stays up.
function mediaCut(on) {
  const ip = (args) => execFileSync('ip', args, { timeout: 5000 });
  if (on) {
    ip(['route', 'add', '10.99.0.0/24', 'dev', 'v0', 'table', '100']);
    ip(['rule', 'add', 'pref', '100', 'lookup', 'local']);
    ip(['rule', 'del', 'pref', '0']);
    ip(['rule', 'add', 'pref', '50', 'to', '10.99.0.0/24', 'ipproto', 'udp', 'lookup', '100']);
  } else {
    ip(['rule', 'del', 'pref', '50']);
    ip(['rule', 'add', 'pref', '0', 'lookup', 'local']);
    ip(['rule', 'del', 'pref', '100']);
    ip(['route', 'flush', 'table', '100']);
  }
}

// The veths also carry IPv6 link-local addresses, and a rebuilt
// connection may well pair over them, where mediaCut's IPv4 rule does not
// reach (seen: 144 frames in a 5 s "cut" after a reconnect swap). A test
// that cuts the media path turns IPv6 off in its namespace first, so that
// every media path is one the cut covers.
function ipv4Only() {
  execFileSync('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1',
    'net.ipv6.conf.default.disable_ipv6=1', 'net.ipv6.conf.v0.disable_ipv6=1',
    'net.ipv6.conf.v1.disable_ipv6=1'], { timeout: 5000 });
}

module.exports = {
  CHROMIUM, WAIT_S, NETNS_ADDR, ts, log, live, skipOrFail, requireEnv, checkNamespace,
  prepareWebRoot, startServer, stopServer, summarize, launchChromium, openPage, pairProblems,
  mediaCut, ipv4Only,
};
