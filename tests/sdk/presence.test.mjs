// subscribe → ack → presence snapshot; presence joined/left; superseded
// connections. Spec: protocol §0.1, §0.2, §0.4, §0.5, §10.4, §10.5, §10.9.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, admin, mintToken } from '../js/lib/server.mjs';
import {
  connectClient, makePeer, rawConnect, rawRequest, cleanupAll, waitFor, withTimeout,
} from '../js/lib/sdk.mjs';

const ids = (arr) => arr.map((e) => e.peerId).sort();

/** Every presence frame must have both arrays and never the same peerId in both. */
function assertPresenceShape(p) {
  assert.equal(typeof p.channel, 'string');
  assert.ok(Array.isArray(p.joined) && Array.isArray(p.left), `presence arrays: ${JSON.stringify(p)}`);
  for (const e of [...p.joined, ...p.left]) assert.equal(typeof e.peerId, 'string');
  const j = new Set(p.joined.map((e) => e.peerId));
  for (const e of p.left) assert.ok(!j.has(e.peerId), `peerId ${e.peerId} in both joined and left of one frame`);
}

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await cleanupAll(); if (srv) await srv.stop(); });

test('raw: ack first, then the snapshot in a later write; snapshot sent when empty and on every re-subscribe', async () => {
  const a = await rawConnect(srv);
  const gaps = [];
  // Empty channel.
  a.send({ type: 'subscribe', channel: 'snap-raw', requestId: 's-1' });
  const ack1 = await a.waitFrame((f) => f.type === 'ack' || f.type === 'presence' || f.type === 'error', { what: 'first answer' });
  assert.deepEqual(ack1, { type: 'ack', requestId: 's-1' }, 'the ack comes before the presence snapshot');
  const snap1 = await a.waitFrame((f) => f.type === 'presence', { what: 'empty snapshot' });
  assertPresenceShape(snap1);
  assert.deepEqual(snap1, { type: 'presence', channel: 'snap-raw', joined: [], left: [] });
  gaps.push(snap1.__frame.t - ack1.__frame.t);

  // Re-subscribe while already subscribed: ack then snapshot again.
  a.send({ type: 'subscribe', channel: 'snap-raw', requestId: 's-2' });
  const ack2 = await a.waitFrame((f) => f.type === 'ack' || f.type === 'presence' || f.type === 'error');
  assert.deepEqual(ack2, { type: 'ack', requestId: 's-2' });
  const snap2 = await a.waitFrame((f) => f.type === 'presence');
  assert.deepEqual(snap2, { type: 'presence', channel: 'snap-raw', joined: [], left: [] });
  gaps.push(snap2.__frame.t - ack2.__frame.t);

  // A second member: its snapshot lists A (and not itself); A gets joined:[B].
  const b = await rawConnect(srv);
  const bId = b.frames[0].json.peerId;
  const aId = a.frames[0].json.peerId;
  b.send({ type: 'subscribe', channel: 'snap-raw', requestId: 'b-1' });
  const backk = await b.waitFrame((f) => f.type === 'ack' || f.type === 'presence' || f.type === 'error');
  assert.deepEqual(backk, { type: 'ack', requestId: 'b-1' });
  const bsnap = await b.waitFrame((f) => f.type === 'presence');
  assertPresenceShape(bsnap);
  assert.deepEqual(ids(bsnap.joined), [aId]);
  assert.deepEqual(bsnap.left, []);
  gaps.push(bsnap.__frame.t - backk.__frame.t);
  const aj = await a.waitFrame((f) => f.type === 'presence');
  assert.deepEqual(ids(aj.joined), [bId]);
  assert.deepEqual(aj.left, []);

  // B re-subscribes: snapshot again (lists A), and A must NOT get a second joined.
  b.send({ type: 'subscribe', channel: 'snap-raw', requestId: 'b-2' });
  await b.waitFrame((f) => f.type === 'ack' && f.requestId === 'b-2');
  const bsnap2 = await b.waitFrame((f) => f.type === 'presence');
  assert.deepEqual(ids(bsnap2.joined), [aId]);
  // Prove A got nothing new: a ping/pong round trip on A after B's snapshot.
  a.send({ type: 'ping' });
  await a.waitFrame((f) => f.type === 'pong', { advance: false });
  const extra = a.json(a.cursor).filter((f) => f.type === 'presence');
  assert.deepEqual(extra, [], 're-subscribe of a member must not announce it again');

  // The writes are separate: ack and snapshot were not delivered in one read.
  // (Spec: ≥5 ms gap, default 20 ms; we allow scheduling noise.)
  gaps.sort((x, y) => x - y);
  assert.ok(gaps[Math.floor(gaps.length / 2)] >= 3, `median ack→snapshot gap ${gaps} ms should be ≥ 3 ms`);
  a.close(); b.close();
});

test('MeteredPeer.join in Node learns the existing member every time (30 joins; snapshot never lost)', async () => {
  const member = await connectClient(srv);
  await member.subscribe('snap-peer');
  const failures = [];
  for (let i = 0; i < 30; i++) {
    const p = makePeer(srv);
    try {
      await withTimeout(p.join('snap-peer'), 12000, `join #${i}`);
      await waitFor(() => p.rec.of('peer-joined').some((e) => e.peer.id === member.peerId),
        { timeoutMs: 3000, what: `join #${i}: peer-joined for the existing member` });
    } catch (e) {
      failures.push(`#${i}: ${e.message}`);
    } finally {
      await withTimeout(p.close(), 5000, 'peer.close').catch(() => {});
    }
  }
  assert.deepEqual(failures, [], `snapshot lost in ${failures.length}/30 joins`);
  // The member saw 30 joined and 30 left for the joiners, each in its own frame.
  await waitFor(() => member.rec.of('presence').reduce((n, p) => n + p.left.length, 0) >= 30,
    { what: '30 left events at the member' });
  for (const p of member.rec.of('presence')) assertPresenceShape(p);
  await member.close();
});

test('SDK: subscribe resolves, then the presence snapshot event; re-subscribe gives another snapshot', async () => {
  const c = await connectClient(srv);
  const order = [];
  c.on('presence', (p) => order.push(['presence', p.channel, p.joined.length, p.left.length]));
  await c.subscribe('snap-sdk').then(() => order.push(['ack']));
  await waitFor(() => order.length >= 2, { what: 'snapshot after ack' });
  assert.deepEqual(order, [['ack'], ['presence', 'snap-sdk', 0, 0]]);
  await c.subscribe('snap-sdk');
  await waitFor(() => order.length >= 3, { what: 'snapshot after re-subscribe' });
  assert.deepEqual(order[2], ['presence', 'snap-sdk', 0, 0]);
  await c.close();
});

test('join/leave among three clients; left on unsubscribe and on socket close', async () => {
  const A = await connectClient(srv);
  const B = await connectClient(srv);
  const C = await connectClient(srv);
  const ch = 'trio';
  const pres = (cl) => cl.rec.of('presence', (p) => p.channel === ch);

  await A.subscribe(ch);
  await waitFor(() => pres(A).length >= 1, { what: 'A snapshot' });
  assert.deepEqual(pres(A)[0].joined, []);

  await B.subscribe(ch);
  await waitFor(() => pres(B).length >= 1 && pres(A).length >= 2, { what: 'B snapshot + A sees B' });
  assert.deepEqual(ids(pres(B)[0].joined), [A.peerId]);
  assert.deepEqual(ids(pres(A)[1].joined), [B.peerId]);
  assert.deepEqual(pres(A)[1].left, []);

  await C.subscribe(ch);
  await waitFor(() => pres(C).length >= 1 && pres(A).length >= 3 && pres(B).length >= 2, { what: 'C snapshot + A,B see C' });
  assert.deepEqual(ids(pres(C)[0].joined), [A.peerId, B.peerId].sort());
  assert.deepEqual(ids(pres(A)[2].joined), [C.peerId]);
  assert.deepEqual(ids(pres(B)[1].joined), [C.peerId]);

  // C unsubscribes → A and B get left:[C]; C gets nothing about the channel.
  const cBefore = pres(C).length;
  await C.unsubscribe(ch);
  await waitFor(() => pres(A).length >= 4 && pres(B).length >= 3, { what: 'left for C' });
  for (const p of [pres(A)[3], pres(B)[2]]) {
    assert.deepEqual(p.joined, []);
    assert.deepEqual(ids(p.left), [C.peerId]);
  }
  // unsubscribe of a channel never subscribed is still acked.
  await C.unsubscribe('never-subscribed');

  // B's socket closes → A gets left:[B].
  await B.close();
  await waitFor(() => pres(A).length >= 5, { what: 'left for B on close' });
  assert.deepEqual(pres(A)[4].joined, []);
  assert.deepEqual(ids(pres(A)[4].left), [B.peerId]);

  // Nobody ever heard about themselves, and C heard nothing after leaving.
  for (const cl of [A, B, C]) {
    for (const p of pres(cl)) {
      assertPresenceShape(p);
      assert.ok(![...p.joined, ...p.left].some((e) => e.peerId === cl.peerId), 'no presence about self');
    }
  }
  assert.equal(pres(C).length, cBefore, 'no presence after unsubscribe');
  await A.close(); await C.close();
});

test('left on abrupt socket loss (terminate without close frame)', async () => {
  const A = await connectClient(srv);
  await A.subscribe('abrupt');
  const b = await rawConnect(srv);
  const bId = b.frames[0].json.peerId;
  await rawRequest(b, { type: 'subscribe', channel: 'abrupt' });
  await A.rec.wait('presence', (p) => p.channel === 'abrupt' && p.joined.some((e) => e.peerId === bId));
  b.terminate();
  const left = await A.rec.wait('presence', (p) => p.channel === 'abrupt' && p.left.length > 0);
  assert.deepEqual(ids(left.left), [bId]);
  assert.deepEqual(left.joined, []);
  await A.close();
});

test('presence entries carry the JWT peerMetadata (snapshot, joined and left)', async () => {
  const md = { name: 'Mallory', avatar: 'https://example.org/m.png' };
  const A = await connectClient(srv);
  await A.subscribe('meta-pres');
  const M = await connectClient(srv, { token: mintToken({ sub: 'mallory', channels: ['**'], ttl: 600, peerMetadata: md }) });
  await M.subscribe('meta-pres');
  const j = await A.rec.wait('presence', (p) => p.channel === 'meta-pres' && p.joined.length > 0);
  assert.deepEqual(j.joined, [{ peerId: 'mallory', metadata: md }]);
  // A pk member has no metadata key in entries.
  const snapM = await M.rec.wait('presence', (p) => p.channel === 'meta-pres');
  assert.deepEqual(snapM.joined, [{ peerId: A.peerId }]);
  // The snapshot of a later joiner carries M's metadata too.
  const Z = await connectClient(srv);
  await Z.subscribe('meta-pres');
  const snapZ = await Z.rec.wait('presence', (p) => p.channel === 'meta-pres');
  const mEntry = snapZ.joined.find((e) => e.peerId === 'mallory');
  assert.deepEqual(mEntry, { peerId: 'mallory', metadata: md });
  await M.close();
  const l = await A.rec.wait('presence', (p) => p.channel === 'meta-pres' && p.left.length > 0);
  assert.equal(l.left[0].peerId, 'mallory');
  if (Object.hasOwn(l.left[0], 'metadata')) assert.deepEqual(l.left[0].metadata, md);
  await A.close(); await Z.close();
});

test('superseded connection (same JWT sub twice): others get left then joined as separate frames; old socket closed 1008', async () => {
  const O = await connectClient(srv);
  await O.subscribe('dup-room');
  const pres = () => O.rec.of('presence', (p) => p.channel === 'dup-room');
  await waitFor(() => pres().length >= 1, { what: 'O snapshot' });

  const tok = () => mintToken({ sub: 'dup-user', channels: ['**'], ttl: 600 });
  // D1 must not reconnect after being superseded (it would supersede D2 in turn).
  const D1 = await connectClient(srv, { token: tok(), reconnect: false });
  await D1.subscribe('dup-room');
  await waitFor(() => pres().length >= 2, { what: 'O sees dup-user joined' });
  assert.deepEqual(pres()[1], { channel: 'dup-room', joined: [{ peerId: 'dup-user' }], left: [] });

  const D2 = await connectClient(srv, { token: tok() });
  const d = await D1.rec.wait('disconnected');
  assert.equal(d.code, 1008, `superseded close code (got ${d.code} '${d.reason}')`);
  assert.equal(d.willReconnect, false); // reconnect disabled on D1
  await waitFor(() => pres().length >= 3, { what: 'O sees dup-user left' });
  assert.deepEqual(pres()[2], { channel: 'dup-room', joined: [], left: [{ peerId: 'dup-user' }] },
    'left for the old connection, on its own, before the new one subscribes');

  await D2.subscribe('dup-room');
  await waitFor(() => pres().length >= 4, { what: 'O sees dup-user joined again' });
  assert.deepEqual(pres()[3], { channel: 'dup-room', joined: [{ peerId: 'dup-user' }], left: [] });
  for (const p of pres()) assertPresenceShape(p);
  // D2's snapshot lists O only.
  const s2 = await D2.rec.wait('presence', (p) => p.channel === 'dup-room');
  assert.deepEqual(ids(s2.joined), [O.peerId]);
  await D2.close(); await O.close();
});

test('SDK reconnect (server drop 1011) → left then joined as separate frames at the other member', async () => {
  const tokenProvider = async () => mintToken({ sub: 'bouncer', channels: ['**'], ttl: 600 });
  const A = await connectClient(srv);
  await A.subscribe('bounce');
  const B = await connectClient(srv, { tokenProvider });
  await B.subscribe('bounce');
  await A.rec.wait('presence', (p) => p.channel === 'bounce' && p.joined.some((e) => e.peerId === 'bouncer'));
  const r = await admin(srv, 'POST', '/v1/peers/bouncer/drop?code=1011');
  assert.equal(r.status, 204);
  await B.rec.wait('connected', (e) => e.isReconnect);
  await waitFor(() => A.rec.of('presence', (p) => p.channel === 'bounce').length >= 4, { what: 'left+joined at A' });
  const ps = A.rec.of('presence', (p) => p.channel === 'bounce');
  assert.deepEqual(ps[2], { channel: 'bounce', joined: [], left: [{ peerId: 'bouncer' }] });
  assert.deepEqual(ps[3], { channel: 'bounce', joined: [{ peerId: 'bouncer' }], left: [] });
  // B's replayed subscribe produced a snapshot listing A.
  const snaps = B.rec.of('presence', (p) => p.channel === 'bounce');
  assert.ok(snaps.length >= 2, 'snapshot on the replayed subscribe');
  assert.deepEqual(ids(snaps.at(-1).joined), [A.peerId]);
  await A.close(); await B.close();
});
