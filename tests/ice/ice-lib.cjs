// gst-metered — LGPL-2.1-or-later
//
// Two network namespaces joined by the veth pair, for ICE tests and
// bench/ice-restart.sh: netns-run.sh's namespace (A) keeps v0 10.99.0.1
// with metered-server (on 0.0.0.0 inside A: 127.0.0.1 for Chromium, whose
// SDK allows ws:// only there, and 10.99.0.1 for the box) and Chromium;
// a second namespace (B), made here, gets v1 10.99.0.2 and runs
// metered-peer-tool, the "box": its signalling and its media both cross
// the veth, so taking the link down cuts both, as on a real box.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, execFileSync } = require('child_process');
const {
  ts, log, live, requireEnv, checkNamespace, prepareWebRoot, startServer, stopServer,
  launchChromium,
} = require('../js/lib/interop.cjs');

function mint(exe, sub) {
  return execFileSync(exe, ['--mint-token', '--dev', '--sub', sub, '--ttl', '600'])
    .toString().trim();
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, fn, seconds) {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${seconds} s`);
    await sleep(50);
  }
}

// metered-peer-tool's JSON lines: the latest status, every other event
// (stamped with its arrival), and the rest of its output (last 20 kB).
function trackTool(child, tag) {
  const t = { child, status: null, events: [], output: '' };
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        const e = JSON.parse(line);
        e.at = Date.now();
        if (e.event === 'status') t.status = e;
        else { t.events.push(e); log(`[${tag}] ${line}`); }
      } catch (_) { t.output = (t.output + line + '\n').slice(-20000); }
    }
  });
  child.stderr.on('data', (d) => { t.output = (t.output + d.toString()).slice(-20000); });
  t.exited = new Promise((r) => child.on('close', (code) => r(code)));
  return t;
}

// A test's frame: metered-server (extra: its options), Chromium, body
// (ctx, port, exe, tool), PASS/FAIL and an overall time limit.
function runMain(name, limitS, extra, body) {
  const main = async () => {
    const exe = requireEnv('METERED_SERVER');
    const tool = process.argv[2];
    if (!tool || !fs.existsSync(tool)) throw new Error(`usage: ${name} PATH/TO/metered-peer-tool`);
    checkNamespace();
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-ice-'));
    let srv = null, ctx = null, ok = false;
    try {
      srv = startServer(exe, prepareWebRoot(tmp), tmp, 0, extra);
      const port = await srv.port;
      ctx = await launchChromium(tmp);
      await body(ctx, port, exe, tool);
      ok = true;
    } catch (e) {
      console.error(`${ts()} FAIL: ${e && e.stack || e}`);
    } finally {
      if (ctx) await ctx.close().catch(() => {});
      if (srv) await stopServer(srv);
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    log(ok ? `PASS ${name}` : `FAIL ${name}`);
    return ok ? 0 : 1;
  };
  const guard = setTimeout(() => {
    console.error(`${ts()} FAIL: overall time limit (${limitS} s) reached`);
    if (live.server && !live.server.exit) live.server.child.kill('SIGKILL');
    process.exit(1);
  }, limitS * 1000);
  main().then((rc) => { clearTimeout(guard); process.exit(rc); },
    (e) => { console.error(`${ts()} FAIL: ${e && e.stack || e}`); process.exit(1); });
}

const ip = (...args) => execFileSync('ip', args, { timeout: 5000 });

// Our client, like the SDK, allows ws:// only to localhost: inside B a
// relay on 127.0.0.1:port carries each signalling connection to the
// server across the link (one TCP connection per client connection, so a
// cut stalls it as it would the box's own).
const RELAY = `
const net = require('net');
const [port, host] = [Number(process.env.RELAY_PORT), process.env.RELAY_HOST || '10.99.0.1'];
const localAddress = process.env.RELAY_SRC || undefined;
net.createServer((c) => {
  const s = net.connect({ port, host, localAddress });
  c.pipe(s); s.pipe(c);
  c.on('error', () => s.destroy()); s.on('error', () => c.destroy());
  c.on('close', () => s.destroy()); s.on('close', () => c.destroy());
}).listen(port, '127.0.0.1');`;

// Runs tool in namespace B, signalling through the relay to port. v1
// moves there (and loses its address in A). opts (optional): dev and
// addr (another veth end the caller made, instead of v1 10.99.0.2/24),
// setup (more shell lines once it is up), relayHost (the server's
// address, 10.99.0.1) and relaySrc (the relay's source address).
async function startBox(tool, args, port, opts = {}) {
  const dev = opts.dev || 'v1';
  if (!opts.dev) ensureVeth();
  const script = [
    'set -e',
    `for i in $(seq 100); do ip link show ${dev} >/dev/null 2>&1 && break; sleep 0.05; done`,
    'ip link set lo up',
    'sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1',
    `ip addr add ${opts.addr || '10.99.0.2/24'} dev ${dev}`,
    `ip link set ${dev} up`,
    ...(opts.setup || []),
    `"${process.execPath}" -e "$RELAY" > /dev/null 2>&1 & relay=$!`,
    'for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$RELAY_PORT) 2>/dev/null && break; sleep 0.05; done',
    // The namespace (and v1 with it) goes when the tool and the relay do.
    'set +e',
    '"$@" & tool=$!',
    "trap 'kill -TERM $tool 2> /dev/null' TERM INT",
    'wait $tool; wait $tool; rc=$?',
    'kill $relay; wait $relay',
    'exit $rc',
  ].join('\n');
  const child = spawn('unshare', ['--net', 'bash', '-c', script, 'box', tool,
    '--url', `ws://127.0.0.1:${port}`, ...args],
  {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env, RELAY, RELAY_PORT: String(port),
      RELAY_HOST: opts.relayHost || '10.99.0.1', RELAY_SRC: opts.relaySrc || '',
    },
  });
  const t = trackTool(child, opts.tag || 'box');
  // Moving the device into B: wait until B exists (the child is
  // unshare's exec).
  await new Promise((r) => setTimeout(r, 200));
  ip('link', 'set', dev, 'netns', String(child.pid));
  return t;
}

// A namespace's end takes its veth with it, and the peer too: each box
// gets the pair made again (A's end as netns-run.sh made it).
function ensureVeth() {
  try {
    ip('link', 'show', 'v0');
    return;
  } catch (_) { /* gone with the last box */ }
  ip('link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
  execFileSync('sysctl', ['-qw', 'net.ipv6.conf.v0.disable_ipv6=1'], { timeout: 5000 });
  ip('addr', 'add', '10.99.0.1/24', 'dev', 'v0');
  ip('link', 'set', 'v0', 'up');
}

function ipv4OnlyA() {
  execFileSync('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1',
    'net.ipv6.conf.default.disable_ipv6=1', 'net.ipv6.conf.v0.disable_ipv6=1'], { timeout: 5000 });
}

// The link between the namespaces cut and put back, two ways
// (METERED_ICE_CUT):
//   link  (default) a cable pulled and plugged back: v0 down, so both
//         ends lose carrier and the test's namespace (the browser's host)
//         sees its own interface go and come back; Chromium then
//         re-enumerates its networks before a new RTCPeerConnection
//         gathers (~1 s after the link returns);
//   path  the path cut further away, as an uplink failing behind the
//         box's router: every packet dropped at both ends of the veth
//         (a blackhole qdisc on v0 and, in the box's namespace, on v1),
//         neither host sees an interface change.
const CUT = process.env.METERED_ICE_CUT || 'link';
if (!['link', 'path'].includes(CUT)) throw new Error(`METERED_ICE_CUT=${CUT}: link or path`);

function blackhole(on, nsArgs, dev) {
  const args = [...nsArgs, 'tc', 'qdisc', on ? 'replace' : 'del', 'dev', dev, 'root'];
  try {
    execFileSync(args[0], [...args.slice(1), ...(on ? ['blackhole'] : [])],
      { timeout: 5000, stdio: 'ignore' });
  } catch (e) {
    if (on) throw e; /* put back: nothing to remove is fine */
  }
}

// box: startBox's handle (the path cut needs its namespace).
function linkCut(on, box) {
  if (CUT === 'link') {
    ip('link', 'set', 'v0', on ? 'down' : 'up');
    return;
  }
  blackhole(on, [], 'v0');
  blackhole(on, ['nsenter', '-t', String(box.child.pid), '-n'], 'v1');
}

// metered-server reachable from both namespaces (A is private to the
// test: nothing outside it can reach 0.0.0.0 there).
const SHARED_SERVER = ['--host', '0.0.0.0'];

module.exports = {
  mint, sleep, waitFor, trackTool, runMain, startBox, ensureVeth, ipv4OnlyA, linkCut, SHARED_SERVER,
  ip,
};
