// A node that loses its lease must fence itself (issue 18's SIGSTOP and
// node<->Redis blackhole scenarios): three metered-server nodes over this
// test's own redis-server; node 2 is either stopped (SIGSTOP) or cut off
// from Redis by a TCP proxy of this test for longer than its lease. The
// others reap its peers; when it wakes or the link heals it closes its
// clients 1001 "cluster node fenced" (they re-home) instead of serving a
// split brain, and nothing it buffered meanwhile (a client's publish, a
// command stuck in the cut link) reaches anyone: no ghost message, no
// ghost member. Invariants checked: no echo, no duplicate, per-sender
// order, presence equal to the truth at quiescence, one live connection
// per peer id, no left+joined for a peer that re-homed within the lease.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mintToken, startServer, metrics } from '../js/lib/server.mjs';
import { rawConnect, cleanupAll } from '../js/lib/sdk.mjs';
import { startRedis, presenceView, subscribe, messages, waitFor, sleep } from './cluster-lib.mjs';

// 6 s: ASan on two loaded cores must not fence the healthy nodes. The
// outage (10 s) is well past it.
const LEASE_MS = 6000;
const OUTAGE_MS = 10000;

let redis;
let proxy;
let nodes = [];
const tok = (sub) => mintToken({ sub, channels: ['**'], ttl: 600 });
const connect = (node, sub) => rawConnect(node, { token: tok(sub) });

/**
 * A loopback TCP proxy in front of Redis that can blackhole: while cut,
 * it forwards nothing in either direction and keeps every socket open
 * (new connections are accepted and held), as a network partition does.
 * When healed, what was buffered flows on, as TCP retransmission would
 * deliver it.
 */
function startProxy(target) {
  let cut = false;
  const pairs = new Set();
  const server = net.createServer((c) => {
    const u = net.connect(target, '127.0.0.1');
    const pair = { c, u };
    pairs.add(pair);
    for (const [a, b] of [[c, u], [u, c]]) {
      a.on('data', (d) => b.write(d));
      a.on('end', () => b.end());
      a.on('error', () => b.destroy());
      a.on('close', () => { b.destroy(); pairs.delete(pair); });
    }
    if (cut) { c.pause(); u.pause(); }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `redis://127.0.0.1:${server.address().port}`,
    cut() { cut = true; for (const p of pairs) { p.c.pause(); p.u.pause(); } },
    heal() { cut = false; for (const p of pairs) { p.c.resume(); p.u.resume(); } },
    close() { for (const p of pairs) { p.c.destroy(); p.u.destroy(); } server.close(); },
  })));
}

before(async () => {
  redis = await startRedis();
  proxy = await startProxy(redis.port);
  const args = (i, url) => ['--cluster', url, '--node-id', `n${i}`, '--cluster-lease-ms', String(LEASE_MS)];
  nodes.push(await startServer({ args: args(1, redis.url) }));
  nodes.push(await startServer({ args: args(2, proxy.url) }));
  nodes.push(await startServer({ args: args(3, redis.url) }));
});

after(async () => {
  for (const n of nodes) {
    try { process.kill(n.proc.pid, 'SIGCONT'); } catch { /* gone */ }
    console.error(`--- ${n.argv.join(' ')}\n${n.stderr().slice(-3000)}`);
  }
  await cleanupAll();
  for (const n of nodes) await n.stop('SIGKILL');
  if (proxy) proxy.close();
  if (redis) await redis.cleanup();
});

/**
 * One outage of node 2 (`cut` starts it, `heal` ends it) with observers
 * on nodes 1 and 3, a member that stays on node 2 (`stay`), one that
 * re-homes to node 3 at once (`move`), and `ghost`, which publishes into
 * node 2 during the outage. Returns nothing; asserts the invariants.
 */
async function outage(ch, cut, heal) {
  const [n1, n2, n3] = nodes;
  const o1 = await connect(n1, `${ch}-o1`);
  const o3 = await connect(n3, `${ch}-o3`);
  await subscribe(o1, ch, `${ch}-s1`);
  await subscribe(o3, ch, `${ch}-s3`);
  const stay = await connect(n2, `${ch}-stay`);
  const move = await connect(n2, `${ch}-move`);
  await subscribe(stay, ch, `${ch}-s4`);
  await subscribe(move, ch, `${ch}-s5`);
  const obs = [o1, o3];
  for (const o of obs)
    await waitFor(() => [`${ch}-stay`, `${ch}-move`].every((p) => presenceView(o, ch).members.includes(p)),
      { what: 'node 2\'s members joined', timeoutMs: 15000 });
  // Traffic from node 2 before the outage: delivered once, in order.
  for (let i = 0; i < 5; i++) stay.send({ type: 'publish', channel: ch, data: { s: 'stay', i }, requestId: `${ch}-p${i}` });
  for (const o of obs)
    await waitFor(() => messages(o, ch).filter((m) => m.data.s === 'stay').length === 5, { what: 'pre-outage messages' });
  const fencesBefore = (await metrics(n2)).metered_cluster_fences_total;

  const t0 = Date.now();
  await cut();
  // Within the lease: `move` re-homes; its old socket is node 2's to
  // close (supersede or fence), and nobody may see it leave.
  const move2 = await connect(n3, `${ch}-move`);
  await subscribe(move2, ch, `${ch}-s6`);
  // Into node 2 while it cannot act on Redis: must never be delivered
  // (its sender is announced left before node 2 is back).
  stay.send({ type: 'publish', channel: ch, data: { s: 'ghost' }, requestId: `${ch}-ghost` });
  for (const o of obs)
    await waitFor(() => !presenceView(o, ch).members.includes(`${ch}-stay`),
      { what: `${ch}-stay reaped (announced left)`, timeoutMs: 30000 });
  const reapedAfter = Date.now() - t0;
  if (Date.now() - t0 < OUTAGE_MS) await sleep(OUTAGE_MS - (Date.now() - t0));
  await heal();

  // Node 2 fences: its clients are closed 1001 so they re-home.
  const closed = await stay.waitClose({ timeoutMs: 20000 });
  assert.equal(closed.code, 1001, `stay closed by the fence: ${JSON.stringify(closed)}`);
  assert.equal(closed.reason, 'cluster node fenced');
  const moveClosed = await move.waitClose({ timeoutMs: 20000 });
  assert.ok([1001, 1008].includes(moveClosed.code), `move's old socket closed: ${JSON.stringify(moveClosed)}`);
  await waitFor(async () => (await metrics(n2)).metered_cluster_fences_total > fencesBefore,
    { what: 'node 2 counted a fence' });

  // Node 2 is back in the cluster: `stay` reconnects to it and is seen.
  // Until its link is up again a subscribe is closed 1001 (the snapshot
  // cannot be read), and a client comes back, as the SDK does.
  let stay2;
  await waitFor(async () => {
    const s = await connect(n2, `${ch}-stay`);
    try {
      await subscribe(s, ch, `${ch}-s7`);
      stay2 = s;
      return true;
    } catch (e) {
      if (!s.closeInfo || s.closeInfo.code !== 1001) throw e;
      return false;
    }
  }, { what: 'a subscribe through node 2 after the outage', timeoutMs: 30000, intervalMs: 200 });
  for (const o of obs)
    await waitFor(() => presenceView(o, ch).members.includes(`${ch}-stay`),
      { what: `${ch}-stay back through node 2`, timeoutMs: 20000 });
  // Sentinels through each node: one order per channel, so once every
  // observer has them, anything node 2 replayed would be in already.
  stay2.send({ type: 'publish', channel: ch, data: { s: 'end2' }, requestId: `${ch}-e2` });
  o1.send({ type: 'publish', channel: ch, data: { s: 'end1' }, requestId: `${ch}-e1` });
  const all = [o1, o3, move2, stay2];
  for (const s of all) {
    await waitFor(() => messages(s, ch).filter((m) => m.data.s.startsWith('end')).length >= (s === stay2 || s === o1 ? 1 : 2),
      { what: 'sentinels', timeoutMs: 15000 });
  }

  for (const s of all) {
    const got = messages(s, ch).map((m) => `${m.from}:${JSON.stringify(m.data)}`);
    assert.ok(!got.some((g) => g.includes('"ghost"')), `no ghost message (published into node 2 during the outage): ${got}`);
    assert.equal(new Set(got).size, got.length, `no duplicate: ${got}`);
    const stays = messages(s, ch).filter((m) => m.data.s === 'stay').map((m) => m.data.i);
    assert.deepEqual(stays, [...stays].sort((a, b) => a - b), 'per-sender order');
  }
  assert.equal(messages(o1, ch).filter((m) => m.data.s === 'end1').length, 0, 'no echo');
  assert.equal(messages(stay2, ch).filter((m) => m.data.s === 'end2').length, 0, 'no echo');
  const truth = [`${ch}-o1`, `${ch}-o3`, `${ch}-move`, `${ch}-stay`];
  for (const [s, me] of [[o1, `${ch}-o1`], [o3, `${ch}-o3`], [move2, `${ch}-move`], [stay2, `${ch}-stay`]]) {
    const v = presenceView(s, ch);
    assert.deepEqual(v.members, truth.filter((p) => p !== me).sort(), `${me}'s view is the truth: ${v.log}`);
  }
  for (const o of obs) {
    const v = presenceView(o, ch);
    assert.ok(!v.log.includes(`-${ch}-move`), `no left for the member that re-homed within the lease: ${v.log}`);
    assert.equal(v.log.filter((x) => x === `+${ch}-move`).length, 1, `move joined once: ${v.log}`);
    assert.deepEqual(v.log.filter((x) => x.endsWith(`${ch}-stay`)), [`+${ch}-stay`, `-${ch}-stay`, `+${ch}-stay`],
      `stay: joined, reaped, joined again through node 2: ${v.log}`);
  }
  for (const s of all) s.close();
  return { reapedAfter };
}

test('SIGSTOP of a node past its lease: on SIGCONT it fences, no ghost, no duplicate', async () => {
  const pid = nodes[1].proc.pid;
  const r = await outage('stop', () => process.kill(pid, 'SIGSTOP'), () => process.kill(pid, 'SIGCONT'));
  console.error(`SIGSTOP: node 2's member announced left ${r.reapedAfter} ms after the stop`);
});

test('node<->Redis blackhole past the lease: the node fences by its own deadline, reconnects, rejoins', async () => {
  const r = await outage('hole', () => proxy.cut(), () => proxy.heal());
  console.error(`blackhole: node 2's member announced left ${r.reapedAfter} ms after the cut`);
});

test('SIGTERM: every node exits 0 after the outages (no sanitizer report)', async () => {
  for (const n of nodes) assert.equal(await n.stop('SIGTERM'), 0, `exit status; stderr: ${n.stderr().slice(-2000)}`);
});
