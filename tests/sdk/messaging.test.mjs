// publish → message, send → direct, fromMetadata rules, no echo, data
// fidelity. Spec: protocol §3, §4, §8.8, §10.6-§10.8.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, mintToken } from '../js/lib/server.mjs';
import {
  connectClient, makePeer, rawConnect, rawRequest, cleanupAll, waitFor, rejection, withTimeout,
} from '../js/lib/sdk.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await cleanupAll(); if (srv) await srv.stop(); });

const aliceMd = { name: 'Alice', tags: ['a', 'b'], n: 1 };
const jwt = (sub, extra = {}) => mintToken({ sub, channels: ['**'], ttl: 600, ...extra });

test('publish reaches every other subscriber; fromMetadata only for opted-in subscribers; never echoed', async () => {
  const A = await connectClient(srv, { token: jwt('alice-pub', { peerMetadata: aliceMd }) });
  const B = await connectClient(srv); // opts in
  const C = await connectClient(srv); // does not
  const D = await connectClient(srv); // not subscribed at all
  await A.subscribe('chat');
  await B.subscribe('chat', { includeSenderMetadata: true });
  await C.subscribe('chat');

  const payloads = [{ text: 'hi', n: [1, 2, { x: null }] }, 'plain string', 42, null, true, [], {}];
  for (const p of payloads) await A.publish('chat', p);
  await waitFor(() => B.rec.count('message') >= payloads.length && C.rec.count('message') >= payloads.length,
    { what: 'all messages at B and C' });
  const bm = B.rec.of('message');
  const cm = C.rec.of('message');
  assert.deepEqual(bm.map((m) => m.data), payloads, 'B receives every payload in order, unchanged');
  assert.deepEqual(cm.map((m) => m.data), payloads, 'C receives every payload in order, unchanged');
  for (const m of bm) {
    assert.equal(m.channel, 'chat');
    assert.equal(m.from, 'alice-pub');
    assert.deepEqual(m.fromMetadata, aliceMd, 'opted-in subscriber gets fromMetadata');
  }
  for (const m of cm) {
    assert.equal(m.from, 'alice-pub');
    assert.ok(!Object.hasOwn(m, 'fromMetadata'), 'subscriber without includeSenderMetadata gets no fromMetadata');
  }

  // Echo check: B publishes a sentinel after A's messages; when A has it, A
  // would already have any echo of its own publishes.
  await B.publish('chat', 'sentinel-from-B');
  await waitFor(() => A.rec.of('message').some((m) => m.data === 'sentinel-from-B'), { what: 'sentinel at A' });
  assert.equal(A.rec.of('message', (m) => m.from === 'alice-pub').length, 0, 'publisher never receives its own message');
  assert.equal(B.rec.of('message', (m) => m.data === 'sentinel-from-B').length, 0, 'B not echoed either');
  const sentAtA = A.rec.of('message', (m) => m.data === 'sentinel-from-B')[0];
  assert.equal(sentAtA.from, B.peerId);
  assert.ok(!Object.hasOwn(sentAtA, 'fromMetadata'), 'A did not opt in');
  assert.equal(D.rec.count('message'), 0, 'a non-subscriber receives nothing');
  await Promise.all([A, B, C, D].map((c) => c.close()));
});

test('includeSenderMetadata: a pk sender has no peerMetadata → no fromMetadata even for opted-in; last subscribe wins', async () => {
  const P = await connectClient(srv); // pk sender
  const J = await connectClient(srv, { token: jwt('jwt-sender', { peerMetadata: { k: 'v' } }) });
  const R = await connectClient(srv);
  await R.subscribe('ism', { includeSenderMetadata: true });
  await P.publish('ism', 'from-pk');
  await J.publish('ism', 'from-jwt');
  await waitFor(() => R.rec.count('message') >= 2, { what: '2 messages' });
  const [m1, m2] = R.rec.of('message');
  assert.equal(m1.data, 'from-pk');
  assert.ok(!Object.hasOwn(m1, 'fromMetadata'), 'pk sender: no fromMetadata');
  assert.equal(m2.data, 'from-jwt');
  assert.deepEqual(m2.fromMetadata, { k: 'v' });
  // Re-subscribe without the flag: last subscribe wins.
  await R.subscribe('ism');
  await J.publish('ism', 'after-resubscribe');
  await waitFor(() => R.rec.count('message') >= 3, { what: '3rd message' });
  const m3 = R.rec.of('message')[2];
  assert.equal(m3.data, 'after-resubscribe');
  assert.ok(!Object.hasOwn(m3, 'fromMetadata'), 're-subscribe without the flag turns it off');
  // And on again.
  await R.subscribe('ism', { includeSenderMetadata: true });
  await J.publish('ism', 'on-again');
  await waitFor(() => R.rec.count('message') >= 4, { what: '4th message' });
  assert.deepEqual(R.rec.of('message')[3].fromMetadata, { k: 'v' });
  await Promise.all([P, J, R].map((c) => c.close()));
});

test('MeteredPeer broadcast data event carries senderMetadata only with includeSenderMetadata', async () => {
  const J = await connectClient(srv, { token: jwt('peer-sender', { peerMetadata: { role: 'host' } }) });
  const p1 = makePeer(srv);
  const p2 = makePeer(srv);
  await withTimeout(p1.join('peer-bcast', { includeSenderMetadata: true }), 12000, 'join p1');
  await withTimeout(p2.join('peer-bcast'), 12000, 'join p2');
  await J.publish('peer-bcast', { hello: 1 });
  await waitFor(() => p1.rec.count('data') >= 1 && p2.rec.count('data') >= 1, { what: 'data at both peers' });
  const [d1] = p1.rec.of('data');
  const [d2] = p2.rec.of('data');
  assert.deepEqual(d1, { senderPeerId: 'peer-sender', data: { hello: 1 }, kind: 'broadcast', senderMetadata: { role: 'host' } });
  assert.equal(d2.senderPeerId, 'peer-sender');
  assert.equal(d2.kind, 'broadcast');
  assert.equal(d2.senderMetadata, undefined);
  await p1.close(); await p2.close(); await J.close();
});

test('data fidelity: big integers and key order survive byte-for-byte (raw ws)', async () => {
  const pub = await rawConnect(srv);
  const sub = await rawConnect(srv);
  const s = await rawRequest(sub, { type: 'subscribe', channel: 'fidelity' });
  assert.equal(s.type, 'ack');
  const cases = [
    '{"b":1,"a":123456789012345678901234567890}',
    '[18446744073709551617,-9223372036854775809,0.1,1e300,"\\u00e9\\ud83d\\ude00"]',
    '{"z":{"y":{"x":[]}},"a":"","m":null,"k":false}',
    'null',
    '"str"',
    '-0.000001',
  ];
  for (let i = 0; i < cases.length; i++) {
    pub.send(`{"type":"publish","channel":"fidelity","data":${cases[i]},"requestId":"fid-${i}"}`);
    const a = await pub.waitFrame((f) => f.requestId === `fid-${i}`, { what: `ack fid-${i}` });
    assert.equal(a.type, 'ack');
  }
  await waitFor(() => sub.json().filter((f) => f.type === 'message').length >= cases.length, { what: 'messages' });
  const msgs = sub.frames.filter((f) => f.json && f.json.type === 'message');
  // The first case is the one the contract requires textually.
  assert.ok(msgs[0].text.includes('{"b":1,"a":123456789012345678901234567890}'),
    `receiver frame must contain the data verbatim; got ${msgs[0].text}`);
  for (let i = 0; i < cases.length; i++) {
    assert.deepEqual(msgs[i].json.data, JSON.parse(cases[i]), `case ${i} equal in meaning`);
    assert.equal(msgs[i].json.channel, 'fidelity');
    assert.equal(msgs[i].json.from, pub.frames[0].json.peerId);
  }
  // Big integers must not be rounded (JSON.parse would hide that; check text).
  assert.ok(msgs[1].text.includes('18446744073709551617') && msgs[1].text.includes('-9223372036854775809'),
    `big integers re-serialised lossily: ${msgs[1].text}`);
  pub.close(); sub.close();
});

test('send → direct with from; fromMetadata on direct whenever the sender has peerMetadata; MeteredPeer direct data', async () => {
  const A = await connectClient(srv, { token: jwt('alice-direct', { peerMetadata: aliceMd }) });
  const B = await connectClient(srv);
  const C = await connectClient(srv);
  await A.send(B.peerId, { type: 'app', v: [1, 2, 3] });
  await A.send(B.peerId, null);
  await C.send(B.peerId, 'from-pk');
  await waitFor(() => B.rec.count('direct') >= 3, { what: '3 directs at B' });
  const [d1, d2, d3] = B.rec.of('direct');
  assert.deepEqual(d1, { from: 'alice-direct', data: { type: 'app', v: [1, 2, 3] }, fromMetadata: aliceMd });
  assert.deepEqual(d2, { from: 'alice-direct', data: null, fromMetadata: aliceMd });
  assert.deepEqual(d3, { from: C.peerId, data: 'from-pk' });
  assert.equal(A.rec.count('direct') + C.rec.count('direct'), 0, 'direct goes only to the target');

  // MeteredPeer: remote.send / sendTo → data{kind:'direct', senderMetadata}
  const pa = makePeer(srv, { token: jwt('peer-a', { peerMetadata: { who: 'a' } }) });
  const pb = makePeer(srv);
  await withTimeout(pa.join('direct-room'), 12000, 'join pa');
  await withTimeout(pb.join('direct-room'), 12000, 'join pb');
  await waitFor(() => pa.rec.count('peer-joined') >= 1 && pb.rec.count('peer-joined') >= 1, { what: 'peers know each other' });
  await pa.sendTo(pb.peerId, { ping: 'direct' });
  const got = await pb.rec.wait('data');
  assert.deepEqual(got, { senderPeerId: 'peer-a', data: { ping: 'direct' }, kind: 'direct', senderMetadata: { who: 'a' } });
  await pa.close(); await pb.close();
  await Promise.all([A, B, C].map((c) => c.close()));
});

test('send to an absent peer rejects with peer_not_found (and the connection stays up)', async () => {
  const A = await connectClient(srv);
  const err = await rejection(A.send('nobody-is-here', { x: 1 }));
  assert.equal(err.name, 'peer_not_found');
  // A peer that left is not found either.
  const B = await connectClient(srv);
  const bId = B.peerId;
  await B.close();
  await waitFor(async () => {
    try { await A.send(bId, 1); return false; } catch (e) { return e.name === 'peer_not_found'; }
  }, { what: 'peer_not_found after the target closed' });
  assert.equal(A.state, 'connected');
  assert.equal(A.rec.count('disconnected'), 0);
  await A.close();
});

test('direct to a superseded peerId goes to the current connection', async () => {
  const tok = () => jwt('direct-dup');
  const D1 = await connectClient(srv, { token: tok(), reconnect: false });
  const D2 = await connectClient(srv, { token: tok() });
  await D1.rec.wait('disconnected');
  const S = await connectClient(srv);
  await S.send('direct-dup', 'to-current');
  await D2.rec.wait('direct', (d) => d.data === 'to-current');
  assert.equal(D1.rec.count('direct'), 0);
  await D2.close(); await S.close();
});
