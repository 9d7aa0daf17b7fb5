// gst-metered — LGPL-2.1-or-later
//
// A box with two addresses loses the one only some of its viewers' paths
// use (issue 14): only those recover, the others keep their connection.
//
// Three namespaces: the test's (A: metered-server, viewer "v-near", a
// metered-peer-tool receiving and decoding beside the server, and the
// router between the others), the box's (B: metered-peer-tool sending,
// v1 with 10.99.0.2 and 10.99.0.3, signalling through its relay from
// 10.99.0.3) and the far viewer's (C: another receiving metered-peer-tool
// on v3 10.97.0.2, reached through A). Both of the box's addresses reach
// both viewers, but until the change a filter on v1 (htb classes with a
// blackhole leaf; this kernel has no tc actions) steers each viewer's
// ICE onto one: v-near onto 10.99.0.2, v-far onto 10.99.0.3. Once both
// decode, the filter goes and 10.99.0.2 is removed from v1 (promoted
// secondaries: 10.99.0.3 stays). Nobody tells the box: its
// GNetworkMonitor sees the change, and its watch (watch-network) finds
// that only v-near's selected pair used the address and restarts ICE on
// that connection only, without touching its signalling.
//
// Passes when v-near decodes >= 30 new frames within
// METERED_ICE_RECOVER_S (30 s) without a new connection on either side,
// and v-far's decoded frames never stop for more than 1 s (from before
// the change until v-near is back, plus 3 s) with no swap and no restart
// on its connection on either side, the box's signalling never leaves
// connected, and no error anywhere. Prints the time from the removal to
// v-near's first new frame; with METERED_ICE_JSON=1 one JSON line with
// dir "path-change" (bench/ice-restart.sh). Figures are printed, never
// asserted (timing belongs in bench/).
//
// argv: path to metered-peer-tool.
'use strict';

const { spawn, execFileSync } = require('child_process');
const { log } = require('../js/lib/interop.cjs');
const {
  mint, sleep, waitFor, trackTool, runMain, startBox, ipv4OnlyA, ip, SHARED_SERVER,
} = require('./ice-lib.cjs');

const RECOVER_S = Number(process.env.METERED_ICE_RECOVER_S || 30);
const GAP_MS = 1000;
const FPS = 30;
const DIR = 'path-change';

// UDP from src to dst leaving v1 goes to a blackhole class (in B).
const STEER = [
  'tc qdisc add dev v1 root handle 1: htb default 10 r2q 100000',
  'tc class add dev v1 parent 1: classid 1:10 htb rate 1gbit',
  'tc class add dev v1 parent 1: classid 1:20 htb rate 1gbit',
  'tc qdisc add dev v1 parent 1:20 blackhole',
  ...[['10.99.0.3/32', '10.99.0.0/24'], ['10.99.0.3/32', '10.97.0.1/32'],
    ['10.99.0.2/32', '10.97.0.2/32']].map(([src, dst]) => 'tc filter add dev v1 parent 1: ' +
    `protocol ip prio 1 u32 match ip protocol 17 0xff match ip src ${src} match ip dst ${dst} flowid 1:20`),
];

// A's end of the link to C (10.97.0.1), and A routing between B and C.
function linkToFar() {
  try { ip('link', 'del', 'v2'); } catch (_) { /* none left */ }
  ip('link', 'add', 'v2', 'type', 'veth', 'peer', 'name', 'v3');
  execFileSync('sysctl', ['-qw', 'net.ipv6.conf.v2.disable_ipv6=1', 'net.ipv4.ip_forward=1'],
    { timeout: 5000 });
  ip('addr', 'add', '10.97.0.1/24', 'dev', 'v2');
  ip('link', 'set', 'v2', 'up');
}

const nsRun = (t, ...args) => execFileSync('nsenter', ['-t', String(t.child.pid), '-n', ...args],
  { timeout: 5000, stdio: 'ignore' });

// Per viewer: frames decoded; since watch () was last called, the
// longest stretch without a new one and when the first new one came.
function frameClock(t) {
  const c = { t, last: 0, lastAt: 0, maxGap: 0, first: 0 };
  c.poll = () => {
    const n = t.status ? t.status.framesDecoded : 0;
    const now = Date.now();
    if (n > c.last) {
      if (c.lastAt) c.maxGap = Math.max(c.maxGap, now - c.lastAt);
      if (!c.first) c.first = now;
      c.last = n;
      c.lastAt = now;
    }
    return n;
  };
  c.watch = () => { c.poll(); c.lastAt = Date.now(); c.maxGap = 0; c.first = 0; };
  return c;
}

async function run(exe, tool, port) {
  const channel = `ice-path-${process.pid}`;
  const common = ['--channel', channel, '--duration', '600', '--status-ms', '20'];
  linkToFar();
  const box = await startBox(tool, ['--token', mint(exe, 'z-box'), ...common, '--send'], port, {
    setup: ['sysctl -qw net.ipv4.conf.all.promote_secondaries=1 net.ipv4.conf.v1.promote_secondaries=1',
      'ip addr add 10.99.0.3/24 dev v1', 'ip route add 10.97.0.0/24 via 10.99.0.1', ...STEER],
    relaySrc: '10.99.0.3',
  });
  const near = trackTool(spawn(tool, ['--url', `ws://127.0.0.1:${port}`,
    '--token', mint(exe, 'v-near'), ...common, '--recv', '--decode'],
  { stdio: ['ignore', 'pipe', 'pipe'] }), 'near');
  const far = await startBox(tool, ['--token', mint(exe, 'v-far'), ...common, '--recv', '--decode'],
    port, {
      dev: 'v3', addr: '10.97.0.2/24', tag: 'far', relayHost: '10.97.0.1',
      setup: ['ip route add default via 10.97.0.1'],
    });
  const all = [['box', box], ['near', near], ['far', far]];
  const cNear = frameClock(near), cFar = frameClock(far);
  const ticker = setInterval(() => { cNear.poll(); cFar.poll(); }, 10);
  try {
    await waitFor('both viewers decoding', () => cNear.poll() >= 30 && cFar.poll() >= 30, 30);
    await sleep(1000);
    const e0 = all.map(([, t]) => t.events.length);
    cFar.watch();
    cNear.watch();
        const tDel = Date.now();
    nsRun(box, 'tc', 'qdisc', 'del', 'dev', 'v1', 'root');
    nsRun(box, 'ip', 'addr', 'del', '10.99.0.2/24', 'dev', 'v1');
    // Frames already on their way when the address went count as before.
    await sleep(200);
    const n1 = cNear.poll();
    cNear.first = 0;
    await waitFor('v-near: frames after the address went',
      () => cNear.poll() >= n1 + 30, RECOVER_S);
    const tFirst = cNear.first;
    await sleep(3000);
    cFar.poll();
    const farGap = Math.max(cFar.maxGap, Date.now() - cFar.lastAt);
    const ev = all.map(([tag, t], i) => t.events.slice(e0[i]).map((e) => ({ ...e, tag })));
    const flat = ev.flat();
    const about = (peer) => flat.filter((e) => (e.tag === 'box' && e.peer === peer) ||
      (e.tag !== 'box' && e.tag === peer.slice(2)));
    const kinds = (list, k) => list.filter((e) => e.event === k).length;
    const nearEv = about('v-near'), farEv = about('v-far');
    const r = {
      dir: DIR, cut: 1, recoverMs: tFirst - tDel,
      lost: Math.max(0, Math.round((tFirst - tDel) * FPS / 1000)),
      how: kinds(nearEv, 'connection-swapped') ? 'swap'
        : kinds(nearEv, 'ice-restart') ? 'restart' : 'none',
      farGapMs: farGap,
      farSwaps: kinds(farEv, 'connection-swapped'), farRestarts: kinds(farEv, 'ice-restart'),
    };
    log(`${DIR}: v-near's first frame ${r.recoverMs} ms after its address went ` +
      `(~${r.lost} frames lost, ${r.how}); v-far: longest gap ${farGap} ms, ` +
      `${r.farSwaps} swap(s), ${r.farRestarts} restart(s)`);
    if (process.env.METERED_ICE_JSON) console.log(`ICE-RESULT ${JSON.stringify(r)}`);
    const problems = [];
    if (farGap > GAP_MS) problems.push(`v-far's frames stopped for ${farGap} ms`);
    if (r.farSwaps || r.farRestarts) problems.push(`v-far's connection was touched: ${JSON.stringify(farEv)}`);
    if (kinds(nearEv, 'connection-swapped')) problems.push('v-near got a new connection');
    if (box.events.slice(e0[0]).some((e) => e.event === 'session-state' && e.to === 'reconnecting')) {
      problems.push('the box signalling left connected');
    }
    for (const [tag, t] of all) {
      const errors = t.events.filter((e) => e.event === 'error');
      if (errors.length) problems.push(`${tag} errors ${JSON.stringify(errors)}`);
      if (t.child.exitCode !== null) problems.push(`${tag} exited (${t.child.exitCode})`);
    }
    if (problems.length) throw new Error(problems.join('\n'));
  } catch (e) {
    if (process.env.METERED_ICE_DEBUG) console.error(box.output);
    e.message += all.map(([tag, t]) => `\n${tag} status ${JSON.stringify(t.status)}` +
      `\n${tag} events ${JSON.stringify(t.events.slice(-15))}`).join('') +
      `\nbox output tail:\n${box.output.slice(-3000)}`;
    throw e;
  } finally {
    clearInterval(ticker);
    for (const [, t] of all) t.child.kill('SIGTERM');
    await Promise.all(all.map(([, t]) => t.exited));
    try { ip('link', 'del', 'v2'); } catch (_) { /* went with C */ }
  }
}

runMain('ice netchange path', Number(process.env.METERED_ICE_LIMIT_S || 100), SHARED_SERVER,
  async (ctx, port, exe, tool) => {
    ipv4OnlyA();
    await run(exe, tool, port);
  });
