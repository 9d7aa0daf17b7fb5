// bench/cluster.sh's driver (not a test: figures). Loopback only, every
// phase bounded in time. See bench/cluster.sh for what it measures.

import { performance } from 'node:perf_hooks';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, mintToken, sleep, waitFor, writeKeysFile } from '../tests/js/lib/server.mjs';
import { rawConnect } from '../tests/js/lib/sdk.mjs';
import { startRedis, startNodes, presenceView, redisCommand } from '../tests/cluster/cluster-lib.mjs';

const SUBS = Number(process.env.SUBS || 100);
const PUBS = 2;
const RATE = 50; // per publisher: 2 x 50 msg/s x 100 subscribers = 10,000 deliveries/s
const SECONDS = Number(process.env.SECONDS_RUN || 5);
const KILLS = Number(process.env.KILLS || 3);
const PEERS = Number(process.env.PEERS ?? 3000);
const BURST = Number(process.env.BURST ?? 300);
// HISTORY=1: subscribers ask for channel history (stamped messages; in
// cluster mode the stream in Redis). BASELINE_SERVER: another
// metered-server binary (an older build) measured in the same run, its
// cross-node row next to this one's. ONLY=fanout: the latency phase alone.
const HISTORY = process.env.HISTORY === '1';
const ONLY_FANOUT = process.env.ONLY === 'fanout';
const BASELINE = process.env.BASELINE_SERVER;
const tok = (sub) => mintToken({ sub, channels: ['**'], ttl: 600 });

function pct(a, p) {
  if (!a.length) return NaN;
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '-');

// Redis CPU per script call during a phase (INFO commandstats, reset before).
async function evalshaUsec() {
  const info = await redisCommand(redis.port, 'INFO commandstats');
  const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+),usec_per_call=([\d.]+)/.exec(info);
  return m ? { calls: Number(m[1]), perCall: Number(m[3]) } : { calls: 0, perCall: NaN };
}

async function subscribe(sock, channel, rid, history) {
  sock.send({ type: 'subscribe', channel, requestId: rid, ...(history ? { history: {} } : {}) });
  await sock.waitFrame((f) => f.type === 'presence' && f.channel === channel, { advance: false, timeoutMs: 20000 });
}

// Publish->deliver latency. nodes[0] hosts the publishers; subscribers
// round-robin over every node. Returns {same, cross, delivered, offered}.
async function fanout(nodes, label) {
  const socks = [];
  const lat = { same: [], cross: [] };
  const count = { same: 0, cross: 0 };
  let delivered = 0;
  for (let i = 0; i < SUBS; i++) {
    const node = nodes[i % nodes.length];
    const s = await rawConnect(node, { token: tok(`${label}-s${i}`) });
    const where = node === nodes[0] ? 'same' : 'cross';
    count[where]++;
    s.ws.on('message', (buf) => {
      const t = performance.now();
      const text = buf.toString();
      if (!text.includes('"message"')) return;
      const m = JSON.parse(text);
      if (m.type === 'message' && typeof m.data?.t === 'number') { lat[where].push(t - m.data.t); delivered++; }
    });
    socks.push(s);
  }
  await Promise.all(socks.map((s, i) => subscribe(s, 'bench', `b${i}`, HISTORY)));
  const pubs = [];
  for (let p = 0; p < PUBS; p++) pubs.push(await rawConnect(nodes[0], { token: tok(`${label}-p${p}`) }));
  await sleep(500);
  await redisCommand(redis.port, 'CONFIG RESETSTAT');
  const t0 = performance.now();
  let sent = 0;
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      const due = Math.floor(((performance.now() - t0) / 1000) * RATE);
      for (const p of pubs)
        for (let k = p.sent || 0; k < due; k++) p.send({ type: 'publish', channel: 'bench', data: { t: performance.now() } });
      for (const p of pubs) p.sent = due;
      sent = due * PUBS;
      if (performance.now() - t0 >= SECONDS * 1000) { clearInterval(timer); resolve(); }
    }, 5);
  });
  await sleep(2000);
  const script = await evalshaUsec();
  for (const s of [...socks, ...pubs]) s.terminate();
  return { ...lat, delivered, offered: sent * SUBS, sent, count, script };
}

async function ghostTimes(redis, nodes) {
  const times = [];
  const obs = await rawConnect(nodes[0], { token: tok('ghost-obs') });
  await subscribe(obs, 'ghost', 'g0');
  for (let k = 0; k < KILLS; k++) {
    const victim = nodes[1];
    const peers = [];
    for (let i = 0; i < 20; i++) {
      const s = await rawConnect(victim, { token: tok(`ghost-${k}-${i}`) });
      await subscribe(s, 'ghost', `g${k}-${i}`);
      peers.push(s);
    }
    await waitFor(() => presenceView(obs, 'ghost').members.length === 20, { what: 'ghosts joined', timeoutMs: 20000 });
    const t0 = performance.now();
    await victim.stop('SIGKILL');
    await waitFor(() => presenceView(obs, 'ghost').members.length === 0, { what: 'every ghost left', timeoutMs: 30000, intervalMs: 5 });
    times.push(performance.now() - t0);
    for (const s of peers) s.terminate();
    await victim.restart();
  }
  obs.terminate();
  return times;
}

async function redisRestart(redis, nodes) {
  const members = [];
  let closes = 0;
  for (let i = 0; i < 30; i++) {
    const s = await rawConnect(nodes[i % 3], { token: tok(`rr-${i}`) });
    s.ws.on('close', () => { closes++; });
    await subscribe(s, 'rr', `rr${i}`);
    members.push(s);
  }
  const pub = await rawConnect(nodes[0], { token: tok('rr-pub') });
  pub.ws.on('close', () => { closes++; });
  const rx = members[2]; // on node 3
  await waitFor(() => presenceView(rx, 'rr').members.length === 29, { what: 'rr members', timeoutMs: 20000 });
  let n = 0;
  const t0 = performance.now();
  await redis.restart();
  const tUp = performance.now() - t0;
  let tDeliver = NaN;
  let tPresence = NaN;
  const deadline = t0 + 20000;
  const mark = rx.frames.length;
  // Deliveries resume: a publish from node 1 reaches node 3.
  while (performance.now() < deadline && Number.isNaN(tDeliver)) {
    const id = `rr-${n++}`;
    pub.send({ type: 'publish', channel: 'rr', data: id, requestId: id });
    await sleep(20);
    if (rx.json(mark).some((f) => f.type === 'message' && typeof f.data === 'string')) tDeliver = performance.now() - t0;
  }
  // Presence re-registered: a fresh subscriber's snapshot lists all 30.
  for (let i = 0; performance.now() < deadline && Number.isNaN(tPresence); i++) {
    const probe = await rawConnect(nodes[1], { token: tok(`rr-probe-${i}`) });
    await subscribe(probe, 'rr', `p${i}`);
    const snap = probe.json().find((f) => f.type === 'presence');
    if (snap && snap.joined.length >= 30) tPresence = performance.now() - t0;
    probe.terminate();
    if (Number.isNaN(tPresence)) await sleep(50);
  }
  for (const s of [...members, pub]) s.terminate();
  return { tUp, tDeliver, tPresence, closes };
}

// BURST peers, connected beforehand, subscribe to one channel at once,
// spread over the nodes, with an observer per node in it already: the
// time from the burst until each of them has the full member list (its
// snapshot plus deltas, the truth minus itself). Each socket keeps its
// own view as frames arrive, so the measure costs no rescans.
async function joinBurst(nodes, label) {
  const ch = `${label}-burst`;
  const socks = [];
  const done = [];
  let t0 = NaN;
  const open = async (node, id) => {
    const s = await rawConnect(node, { token: tok(id) });
    const idx = socks.length;
    const members = new Set();
    socks.push(s);
    done.push(NaN);
    s.ws.on('message', (buf) => {
      const text = buf.toString();
      if (!text.includes('"presence"')) return;
      const f = JSON.parse(text);
      if (f.channel !== ch) return;
      for (const e of f.joined) members.add(e.peerId);
      for (const e of f.left) members.delete(e.peerId);
      if (members.size === BURST + nodes.length - 1 && Number.isNaN(done[idx])) done[idx] = performance.now() - t0;
    });
    return s;
  };
  for (const [i, n] of nodes.entries()) await subscribe(await open(n, `${label}-bobs${i}`), ch, `bo${i}`);
  const peers = [];
  for (let b = 0; b < BURST; b += 50)
    peers.push(...await Promise.all([...Array(Math.min(50, BURST - b)).keys()].map((k) => open(nodes[(b + k) % nodes.length], `${label}-b${b + k}`))));
  t0 = performance.now();
  peers.forEach((p, i) => p.send({ type: 'subscribe', channel: ch, requestId: `b${i}` }));
  await waitFor(() => done.every((x) => !Number.isNaN(x)), { what: 'every view converged', timeoutMs: 60000, intervalMs: 10 }).catch(() => {});
  for (const s of socks) s.terminate();
  const ok = done.filter((x) => !Number.isNaN(x));
  return { n: done.length, converged: ok.length, p50: pct(ok, 50), max: pct(ok, 100) };
}

// PEERS peers over the 3 nodes (a third each), in channels of 100 (each
// peer in one; the observers on nodes 1 and 3 in all). SIGKILL of node 2:
// time until both observers have seen each of its peers leave, and how
// many left events they got (each exactly one per peer is right).
async function bigKill(redis) {
  // the dev credentials with room for a third of PEERS per node
  const keys = writeKeysFile({ apps: [{ id: 'dev', maxConnections: PEERS + 100,
    publishableKeys: [{ key: 'pk_dev_local', channels: ['**'] }],
    secrets: [{ kid: 'dev', secret: 'sk_dev_local' }] }] });
  const nodes = [];
  for (let i = 1; i <= 3; i++)
    nodes.push(await startServer({ dev: false, args: ['--keys', keys, '--cluster', redis.url, '--node-id', `big${i}`] }));
  process.on('exit', (code) => { if (code) for (const n of nodes) console.error(`--- ${n.argv.join(' ')}\n${n.stderr().slice(-2000)}`); });
  const CH = 100;
  const nch = Math.ceil(PEERS / CH);
  const chans = [...Array(nch).keys()].map((c) => `big-${c}`);
  const obs = [];
  for (const n of [nodes[0], nodes[2]]) {
    const o = await rawConnect(n, { token: tok(`big-obs-${obs.length}`) });
    await Promise.all(chans.map((c, i) => subscribe(o, c, `bo${i}`)));
    obs.push(o);
  }
  const peers = [];
  const t0 = performance.now();
  for (let b = 0; b < PEERS; b += 50) {
    const batch = [];
    for (let i = b; i < Math.min(PEERS, b + 50); i++) {
      batch.push((async () => {
        const node = nodes[i % 3];
        const s = await rawConnect(node, { token: tok(`big-${i}`) });
        // a peer only counts its own frames: nothing is kept
        s.frames = { push() {}, length: 0, slice: () => [] };
        s.ws.send(JSON.stringify({ type: 'subscribe', channel: chans[i % nch], requestId: 'b' }));
        return { s, node, id: `big-${i}`, ch: chans[i % nch] };
      })());
    }
    peers.push(...await Promise.all(batch));
  }
  const victims = peers.filter((p) => p.node === nodes[1]);
  const view = (o) => {
    const m = new Set();
    let lefts = 0;
    for (const f of o.json()) {
      if (f.type !== 'presence') continue;
      // the other observer is in every channel: only peers count
      for (const e of f.joined) if (!e.peerId.startsWith('big-obs')) m.add(e.peerId);
      for (const e of f.left) if (!e.peerId.startsWith('big-obs')) { m.delete(e.peerId); lefts++; }
    }
    return { m, lefts };
  };
  await waitFor(() => obs.every((o) => view(o).m.size === PEERS), { what: `all ${PEERS} peers joined`, timeoutMs: 120000, intervalMs: 200 })
    .catch((e) => {
      const errs = obs.map((o) => o.json().filter((f) => f.type === 'error').slice(0, 3));
      throw new Error(`${e.message}: observers have ${obs.map((o) => view(o).m.size)}; errors ${JSON.stringify(errs)}; ` +
        `peers closed ${peers.filter((p) => p.s.closeInfo).length}, e.g. ${JSON.stringify(peers.find((p) => p.s.closeInfo)?.s.closeInfo)}`);
    });
  const joinMs = performance.now() - t0;
  const before = obs.map((o) => view(o).lefts);
  const k0 = performance.now();
  await nodes[1].stop('SIGKILL');
  const gone = obs.map(() => NaN);
  await waitFor(() => {
    obs.forEach((o, i) => {
      if (Number.isNaN(gone[i]) && view(o).m.size === PEERS - victims.length) gone[i] = performance.now() - k0;
    });
    return gone.every((x) => !Number.isNaN(x));
  }, { what: 'every peer of the killed node left', timeoutMs: 60000, intervalMs: 10 }).catch(() => {});
  await sleep(2000); // anything more (a duplicate, a wrong left) shows now
  const lefts = obs.map((o, i) => view(o).lefts - before[i]);
  const wrong = obs.map((o) => victims.filter((v) => view(o).m.has(v.id)).length +
    peers.filter((p) => p.node !== nodes[1] && !view(o).m.has(p.id)).length);
  for (const p of peers) p.s.terminate();
  for (const o of obs) o.terminate();
  for (const n of nodes) await n.stop('SIGKILL');
  fs.rmSync(path.dirname(keys), { recursive: true, force: true });
  return { joinMs, victims: victims.length, gone, lefts, wrong };
}

async function basePhases() {
  const single = await startServer({ args: [] });
  const base = await fanout([single], 'single');
  const burstBase = ONLY_FANOUT ? null : await joinBurst([single], 'single');
  await single.stop('SIGKILL');
  const nodes = await startNodes(redis, 3);
  const cl = await fanout(nodes, 'cluster');
  const burst = ONLY_FANOUT ? null : await joinBurst(nodes, 'cluster');
  out.push(`publish->deliver at ${PUBS} x ${RATE} msg/s to ${SUBS} subscribers (${(PUBS * RATE * SUBS).toLocaleString('en')} deliveries/s offered, ${SECONDS} s)`);
  out.push('| server | receivers | delivered/offered | p50 ms | p99 ms | max ms | Redis µs per script call (calls) |');
  out.push('|---|---|---|---|---|---|---|');
  out.push(`| single node (baseline) | same node | ${base.delivered}/${base.offered} | ${f2(pct(base.same, 50))} | ${f2(pct(base.same, 99))} | ${f2(pct(base.same, 100))} | - |`);
  const scr = (r) => `${f2(r.script.perCall)} (${r.script.calls})`;
  out.push(`| 3 nodes + Redis | same node as publisher | ${cl.same.length}/${cl.sent * cl.count.same} | ${f2(pct(cl.same, 50))} | ${f2(pct(cl.same, 99))} | ${f2(pct(cl.same, 100))} | ${scr(cl)} |`);
  out.push(`| 3 nodes + Redis | other nodes (cross-node) | ${cl.cross.length}/${cl.sent * cl.count.cross} | ${f2(pct(cl.cross, 50))} | ${f2(pct(cl.cross, 99))} | ${f2(pct(cl.cross, 100))} | ${scr(cl)} |`);
  if (BASELINE) {
    // the same load on the other binary, in this run (same box, same minute)
    for (const n of nodes) await n.stop('SIGKILL');
    const mine = process.env.METERED_SERVER;
    process.env.METERED_SERVER = BASELINE;
    const old = await startNodes(redis, 3);
    const bl = await fanout(old, 'baseline');
    for (const n of old) await n.stop('SIGKILL');
    process.env.METERED_SERVER = mine;
    out.push(`| 3 nodes + Redis, BASELINE_SERVER | same node as publisher | ${bl.same.length}/${bl.sent * bl.count.same} | ${f2(pct(bl.same, 50))} | ${f2(pct(bl.same, 99))} | ${f2(pct(bl.same, 100))} | ${scr(bl)} |`);
    out.push(`| 3 nodes + Redis, BASELINE_SERVER | other nodes (cross-node) | ${bl.cross.length}/${bl.sent * bl.count.cross} | ${f2(pct(bl.cross, 50))} | ${f2(pct(bl.cross, 99))} | ${f2(pct(bl.cross, 100))} | ${scr(bl)} |`);
    nodes.splice(0, nodes.length, ...(await startNodes(redis, 3)));
  }
  out.push(`(subscribers ${HISTORY ? 'with' : 'without'} history; ${BASELINE ? `BASELINE_SERVER=${BASELINE}` : 'no BASELINE_SERVER'})`);
  if (ONLY_FANOUT) {
    for (const n of nodes) await n.stop('SIGKILL');
    return;
  }
  out.push('');
  out.push(`a join burst: ${BURST} connected peers subscribe to one channel at once (an observer per node in it): time until each view (snapshot + deltas) has every member`);
  out.push('| server | views converged | p50 ms | last ms |');
  out.push('|---|---|---|---|');
  for (const [name, b] of [['single node (baseline)', burstBase], ['3 nodes + Redis', burst]])
    out.push(`| ${name} | ${b.converged}/${b.n} | ${f2(b.p50)} | ${f2(b.max)} |`);
  const ghosts = await ghostTimes(redis, nodes);
  out.push('');
  out.push(`SIGKILL of a node holding 20 subscribed peers -> every one announced left at an observer on another node (${KILLS} runs; lease 3 s, renew 1 s, reaper 1 s; goal <= 4000 ms; anchors 5,000-60,000 ms)`);
  out.push(`| run | ms |`);
  out.push('|---|---|');
  ghosts.forEach((t, i) => out.push(`| ${i + 1} | ${t.toFixed(0)} |`));
  const rr = await redisRestart(redis, nodes);
  out.push('');
  out.push('Redis kill -9 + restart on the same port (no persistence), 30 subscribed clients on 3 nodes (goal <= 2000 ms, no WebSocket dropped)');
  out.push('| redis back (ms) | cross-node delivery again (ms) | full presence again (ms) | client WebSockets closed |');
  out.push('|---|---|---|---|');
  out.push(`| ${rr.tUp.toFixed(0)} | ${rr.tDeliver.toFixed(0)} | ${rr.tPresence.toFixed(0)} | ${rr.closes} |`);
  for (const n of nodes) await n.stop('SIGKILL');
}

const redis = await startRedis();
const out = [];
try {
  if (process.env.ONLY !== 'peers') await basePhases();
  if (PEERS > 0 && process.env.ONLY !== 'fanout') {
    const big = await bigKill(redis);
    out.push('');
    out.push(`${PEERS.toLocaleString('en')} peers on 3 nodes (channels of 100; joined in ${big.joinMs.toFixed(0)} ms); SIGKILL of node 2 holding ${big.victims}: ` +
      'time until an observer saw every one of them leave (lease 3 s; goal <= 4000 ms)');
    out.push('| observer | all left after ms | left events | wrong members at the end |');
    out.push('|---|---|---|---|');
    big.gone.forEach((t, i) => out.push(`| node ${i ? 3 : 1} | ${Number.isNaN(t) ? 'not within 60 s' : t.toFixed(0)} | ${big.lefts[i]} | ${big.wrong[i]} |`));
  }
} finally {
  await redis.cleanup();
}
console.log(out.join('\n'));
process.exit(0);
