// Cluster mode end to end: three metered-server processes sharing a
// redis-server of this test's own (loopback only), raw sockets and the
// real SDK on different nodes. Issue 18's invariants: presence across
// nodes, no echo, one order per channel at every receiver, requestId
// dedupe across nodes, one live connection per peer id, a SIGKILLed
// node's peers announced `left`, no left+joined for a peer that re-homed
// within the lease.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mintToken, startServer, serverBinary, metrics } from '../js/lib/server.mjs';
import { rawConnect, connectClient, cleanupAll } from '../js/lib/sdk.mjs';
import { startRedis, startNodes, presenceView, subscribe, messages, waitFor } from './cluster-lib.mjs';

let redis;
let nodes = [];
const tok = (sub) => mintToken({ sub, channels: ['**'], ttl: 600 });
const connect = (node, sub) => rawConnect(node, { token: tok(sub) });

before(async () => {
  redis = await startRedis();
  // A 6 s lease: a box loaded to a few seconds of starvation (ASan on 2
  // shared cores) would otherwise fence every node mid-test.
  nodes = await startNodes(redis, 3, ['--cluster-lease-ms', '6000']);
});

after(async () => {
  // The nodes' own words, for a failure's log (no credentials in them).
  for (const n of nodes) console.error(`--- ${n.argv.join(' ')}\n${n.stderr().slice(-3000)}`);
  await cleanupAll();
  for (const n of nodes) await n.stop('SIGKILL');
  if (redis) await redis.cleanup();
});

test('presence, publish, send and dedupe across three nodes', async () => {
  const [n1, n2, n3] = nodes;
  const a = await connect(n1, 'alice');
  const b = await connect(n2, 'bob');
  const c = await connect(n3, 'carol');
  const d = await connect(n1, 'dave');
  for (const [s, i] of [[a, 1], [b, 2], [c, 3], [d, 4]]) await subscribe(s, 'room', `sub-${i}`);

  // Every member's view converges to the others, each joined exactly once.
  const everyone = ['alice', 'bob', 'carol', 'dave'];
  for (const [s, me] of [[a, 'alice'], [b, 'bob'], [c, 'carol'], [d, 'dave']]) {
    const want = everyone.filter((p) => p !== me);
    await waitFor(() => JSON.stringify(presenceView(s, 'room').members) === JSON.stringify(want),
      { what: `${me}'s presence view`, timeoutMs: 10000 });
    const v = presenceView(s, 'room');
    for (const p of want) assert.equal(v.log.filter((x) => x === `+${p}`).length, 1, `${me} saw ${p} join once: ${v.log}`);
  }

  // Two senders on two nodes, interleaved; every receiver gets one order.
  const N = 60;
  for (let i = 0; i < N; i++) {
    a.send({ type: 'publish', channel: 'room', data: { s: 'a', i }, requestId: `a-${i}` });
    b.send({ type: 'publish', channel: 'room', data: { s: 'b', i }, requestId: `b-${i}` });
  }
  await waitFor(() => messages(c, 'room').length >= 2 * N && messages(d, 'room').length >= 2 * N,
    { what: 'every message at carol and dave' });
  await waitFor(() => messages(a, 'room').length >= N && messages(b, 'room').length >= N, { what: 'alice and bob' })
    .catch((e) => {
      const seen = (s) => messages(s, 'room').map((m) => `${m.data.s}${m.data.i}`).join(',');
      throw new Error(`${e.message}: alice got ${seen(a)}; bob got ${seen(b)}; alice's other frames ${JSON.stringify(a.json().filter((f) => f.type !== 'message').slice(-5))}`);
    });
  const order = (s) => messages(s, 'room').map((m) => `${m.data.s}${m.data.i}`);
  assert.deepEqual(order(c), order(d), 'carol (node 3) and dave (node 1) see one order');
  assert.deepEqual(order(a), order(c).filter((x) => x.startsWith('b')), 'alice: bob\'s messages in the same order, none of her own');
  assert.deepEqual(order(b), order(c).filter((x) => x.startsWith('a')), 'bob: no echo');
  for (const s of ['a', 'b']) {
    const seq = order(c).filter((x) => x.startsWith(s)).map((x) => Number(x.slice(1)));
    assert.deepEqual(seq, [...Array(N).keys()], `${s}'s messages in send order`);
  }
  for (const m of messages(c, 'room')) assert.equal(m.from, m.data.s === 'a' ? 'alice' : 'bob');

  // Direct send across nodes; nobody there: peer_not_found.
  b.send({ type: 'send', to: 'carol', data: 'hi carol', requestId: 'bs-1' });
  await b.waitFrame((f) => f.type === 'ack' && f.requestId === 'bs-1', { what: 'send ack', advance: false });
  await c.waitFrame((f) => f.type === 'direct' && f.from === 'bob' && f.data === 'hi carol', { what: 'direct at carol', advance: false });
  b.send({ type: 'send', to: 'nobody', data: 'x', requestId: 'bs-2' });
  const nf = await b.waitFrame((f) => f.requestId === 'bs-2', { what: 'answer to a send to nobody', advance: false });
  assert.equal(nf.type, 'error');
  assert.equal(nf.code, 'peer_not_found');

  // alice re-homes to node 3: her node-1 socket is superseded (one live
  // connection per peer id), and her resend of a-0 there is acked and
  // not delivered again.
  const a2 = await connect(n3, 'alice');
  const closed = await a.waitClose({ timeoutMs: 10000 });
  assert.equal(closed.code, 1008, `superseded across nodes: ${JSON.stringify(closed)}`);
  await subscribe(a2, 'room', 'sub-a2');
  a2.send({ type: 'publish', channel: 'room', data: { s: 'a', i: 0 }, requestId: 'a-0' });
  await a2.waitFrame((f) => f.type === 'ack' && f.requestId === 'a-0', { what: 'ack of the resend', advance: false });
  b.send({ type: 'send', to: 'alice', data: 'after', requestId: 'bs-3' });
  await a2.waitFrame((f) => f.type === 'direct' && f.data === 'after', { what: 'a send reaches alice on her new node', advance: false });
  a2.send({ type: 'publish', channel: 'room', data: { s: 'end' }, requestId: 'a-end' });
  await waitFor(() => messages(c, 'room').some((m) => m.data.s === 'end') && messages(d, 'room').some((m) => m.data.s === 'end'),
    { what: 'the sentinel after the resend' });
  for (const s of [c, d]) assert.equal(messages(s, 'room').filter((m) => m.data.s === 'a' && m.data.i === 0).length, 1, 'a-0 delivered once');
  for (const s of [a2, b, c, d]) s.close();
});

test('the real SDK on node 1 and node 3: presence and messages', async () => {
  const [n1, , n3] = nodes;
  const x = await connectClient(n1, { token: tok('sdk-x') });
  const y = await connectClient(n3, { token: tok('sdk-y') });
  await x.subscribe('sdk-room');
  await y.subscribe('sdk-room');
  await x.rec.wait('presence', (p) => p.joined.some((e) => e.peerId === 'sdk-y'));
  await y.rec.wait('presence', (p) => p.joined.some((e) => e.peerId === 'sdk-x'))
    .catch((e) => { throw new Error(`y never saw x join: ${e.message}; y's presence: ${JSON.stringify(y.rec.of('presence'))}`); });
  await y.publish('sdk-room', 'hello from node 3');
  const m = await x.rec.wait('message', (p) => p.data === 'hello from node 3');
  assert.equal(m.from, 'sdk-y');
  await x.publish('sdk-room', 'hello from node 1');
  await y.rec.wait('message', (p) => p.data === 'hello from node 1');
  assert.equal(y.rec.count('message', (p) => p.data === 'hello from node 3'), 0, 'no echo to the SDK sender');
  await x.close();
  await y.rec.wait('presence', (p) => p.left.some((e) => e.peerId === 'sdk-x'))
    .catch((e) => { throw new Error(`${e.message}; y's presence: ${JSON.stringify(y.rec.of('presence'))}`); });
  await y.close();
});

test('SIGKILL of a node: its peers are announced left; one that re-homed within the lease is not', async () => {
  const [n1, n2, n3] = nodes;
  const obs1 = await connect(n1, 'obs1');
  const obs3 = await connect(n3, 'obs3');
  await subscribe(obs1, 'k', 'o1');
  await subscribe(obs3, 'k', 'o3');
  const erin = await connect(n2, 'erin');
  const frank = await connect(n2, 'frank');
  await subscribe(erin, 'k', 'e');
  await subscribe(frank, 'k', 'f');
  for (const o of [obs1, obs3])
    await waitFor(() => ['erin', 'frank'].every((p) => presenceView(o, 'k').members.includes(p)), { what: 'erin and frank joined' });

  await n2.stop('SIGKILL');
  // frank re-homes at once (well within the 6 s lease).
  const frank2 = await connect(n3, 'frank');
  await subscribe(frank2, 'k', 'f2');
  for (const o of [obs1, obs3])
    await waitFor(() => !presenceView(o, 'k').members.includes('erin'), { what: 'erin announced left', timeoutMs: 20000 });
  // Presence and messages share one order per channel: once each
  // observer has the other's sentinel, every left of that reaper run is
  // in already.
  obs1.send({ type: 'publish', channel: 'k', data: 'sentinel-1', requestId: 's1' });
  obs3.send({ type: 'publish', channel: 'k', data: 'sentinel-3', requestId: 's3' });
  await obs3.waitFrame((f) => f.type === 'message' && f.data === 'sentinel-1', { advance: false });
  await obs1.waitFrame((f) => f.type === 'message' && f.data === 'sentinel-3', { advance: false });
  for (const o of [obs1, obs3]) {
    const v = presenceView(o, 'k');
    assert.ok(v.members.includes('frank'), `frank still present: ${v.log}`);
    assert.ok(!v.log.includes('-frank'), `no left for frank: ${v.log}`);
    assert.equal(v.log.filter((x) => x === '+frank').length, 1, `frank joined once: ${v.log}`);
  }
  const snap = await frank2.waitFrame((f) => f.type === 'presence' && f.channel === 'k', { advance: false });
  assert.ok(!snap.joined.some((e) => e.peerId === 'frank'), 'a snapshot never lists its own subscriber');
  for (const s of [obs1, obs3, frank2]) s.close();
});

test('/metrics: cluster figures on a node (lease, Redis, reaper), none on a single node', async () => {
  const [n1, , n3] = nodes;
  const m1 = await metrics(n1);
  const m3 = await metrics(n3);
  for (const m of [m1, m3]) {
    assert.equal(m.metered_cluster_lease_held, 1);
    assert.ok(m.metered_cluster_lease_age_seconds >= 0 && m.metered_cluster_lease_age_seconds < 6, `lease age ${m.metered_cluster_lease_age_seconds}`);
    assert.ok(m.metered_cluster_events_total > 0);
    assert.equal(m.metered_cluster_events_malformed_total, 0);
    assert.equal(m.metered_cluster_fences_total, 0);
  }
  // The SIGKILL test's node 2 had erin and frank: one reaper (whichever
  // node held the lock) announced erin and skipped frank.
  assert.ok(m1.metered_cluster_reaped_peers_total + m3.metered_cluster_reaped_peers_total >= 1, 'the reaper counted erin');
  const single = await startServer();
  try {
    const ms = await metrics(single);
    assert.ok('metered_connections' in ms);
    assert.deepEqual(Object.keys(ms).filter((k) => k.startsWith('metered_cluster_')), [], 'single node: no cluster figures');
  } finally {
    await single.stop();
  }
});

test('the keys file\'s "cluster" object makes a node; bad cluster options are refused clearly', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-cluster-keys-'));
  try {
    const keys = path.join(dir, 'keys.json');
    fs.writeFileSync(keys, JSON.stringify({ apps: [], cluster: { redis: redis.url, nodeId: 'n4' } }));
    const n4 = await startServer({ args: ['--keys', keys, '--cluster-lease-ms', '6000'] });
    nodes.push(n4);
    const p = await connect(n4, 'from-keys-file');
    const q = await connect(nodes[0], 'on-node-1');
    await subscribe(p, 'kf', 'kf-1');
    await subscribe(q, 'kf', 'kf-2');
    await waitFor(() => presenceView(p, 'kf').members.includes('on-node-1'), { what: 'node 4 sees node 1' });

    const run = (args) => spawnSync(serverBinary(), ['--dev', '--port', '0', ...args], { encoding: 'utf8', timeout: 10000 });
    const bad = [
      [['--cluster', redis.url, '--node-id', 'no spaces'], /node-id/],
      [['--cluster', 'redis://:s3cret-pw@127.0.0.1:1/7', '--node-id', 'x'], /db|database|0/],
      [['--cluster', 'http://127.0.0.1:1', '--node-id', 'x'], /redis:\/\//],
      [['--node-id', 'x'], /needs --cluster/],
      [['--cluster', redis.url, '--node-id', 'x', '--cluster-lease-ms', '100'], /--cluster-lease-ms 1500\.\.60000/],
    ];
    for (const [args, re] of bad) {
      const r = run(args);
      assert.equal(r.status, 2, `${args.join(' ')}: exit 2 (${r.stderr})`);
      assert.match(r.stderr, re);
      assert.ok(!r.stderr.includes('s3cret-pw'), 'the password is never printed');
    }
    fs.writeFileSync(keys, JSON.stringify({ apps: [], cluster: { redis: 7 } }));
    const r = run(['--keys', keys]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /"cluster"\."redis" must be a non-empty string/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('Redis kill -9 and restart: sockets stay open, views converge (a member gone meanwhile leaves, none joins twice)', async () => {
  const [n1, , n3] = nodes;
  const x = await connect(n1, 'rs-x');
  const y = await connect(n3, 'rs-y');
  const z = await connect(n3, 'rs-z');
  for (const [s, i] of [[x, 1], [y, 2], [z, 3]]) await subscribe(s, 'rs', `rs-${i}`);
  await waitFor(() => JSON.stringify(presenceView(x, 'rs').members) === '["rs-y","rs-z"]', { what: 'x sees y and z' });
  let closes = 0;
  for (const s of [x, y]) s.ws.on('close', () => { closes++; });

  await redis.stop('SIGKILL');
  z.close(); // its node cannot tell Redis: the resync must
  await z.waitClose();
  await redis.start();

  await waitFor(() => JSON.stringify(presenceView(x, 'rs').members) === '["rs-y"]', { what: 'x: z left, y still there', timeoutMs: 15000 });
  await waitFor(() => JSON.stringify(presenceView(y, 'rs').members) === '["rs-x"]', { what: 'y sees x', timeoutMs: 15000 });
  // Deliveries work again (a publish made while the link is still coming
  // back is answered backend_error; the client resends, as the SDK does).
  let delivered = false;
  for (let i = 0; i < 50 && !delivered; i++) {
    y.send({ type: 'publish', channel: 'rs', data: `after-${i}`, requestId: `rs-p${i}` });
    const ans = await y.waitFrame((f) => f.requestId === `rs-p${i}`, { what: 'publish answer', advance: false });
    if (ans.type === 'ack') {
      await x.waitFrame((f) => f.type === 'message' && f.data === `after-${i}`, { what: 'delivery after the restart', advance: false });
      delivered = true;
    } else {
      assert.equal(ans.code, 'backend_error');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  assert.ok(delivered, 'a publish after the restart is delivered');
  const vx = presenceView(x, 'rs');
  assert.equal(vx.log.filter((e) => e === '+rs-y').length, 1, `y joined once at x: ${vx.log}`);
  assert.equal(vx.log.filter((e) => e === '-rs-z').length, 1, `z left once at x: ${vx.log}`);
  assert.equal(closes, 0, 'no client socket closed');
  x.close();
  y.close();
});

test('SIGTERM: every live node leaves cleanly (exit 0: no sanitizer report, no leak under ASan)', async () => {
  const live = nodes.filter((n) => n.alive());
  assert.ok(live.length >= 3, 'nodes 1, 3 and 4 still run');
  const watcher = await connect(live[live.length - 1], 'last-watcher');
  await subscribe(watcher, 'bye', 'w');
  const leaver = await connect(live[0], 'leaver');
  await subscribe(leaver, 'bye', 'l');
  await waitFor(() => presenceView(watcher, 'bye').members.includes('leaver'), { what: 'leaver joined' });
  assert.equal(await live[0].stop('SIGTERM'), 0, `node exit status; stderr: ${live[0].stderr().slice(-2000)}`);
  // Its clients' presence ends with the shutdown, not a lease later.
  await waitFor(() => !presenceView(watcher, 'bye').members.includes('leaver'), { what: 'leaver left at shutdown' });
  watcher.close();
  for (const n of live.slice(1)) assert.equal(await n.stop('SIGTERM'), 0, `node exit status; stderr: ${n.stderr().slice(-2000)}`);
});
