// Graceful shutdown (going_away + 1001, exit 0) and SDK reconnect to a
// restarted server; JWT expiry close 4002 shortly before exp.
// Spec: protocol §6.1, §7, §10.11-§10.12; docs/metered-server.md (Running).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, mintToken, jwtClaims } from '../js/lib/server.mjs';
import { connectClient, rawConnect, cleanupAll, waitFor } from '../js/lib/sdk.mjs';

const servers = [];
after(async () => { await cleanupAll(); for (const s of servers) await s.stop(); });

test('SIGTERM: going_away{retryAfterMs:1000} then 1001, exit 0; the SDK reconnects to the restarted server with subscriptions replayed', async () => {
  const srv = await startServer();
  servers.push(srv);
  const reconnect = { initialDelayMs: 100, multiplier: 1.5, maxDelayMs: 500, jitterRatio: 0.2, maxAttempts: 500 };
  const A = await connectClient(srv, { reconnect });
  const B = await connectClient(srv, { tokenProvider: async () => mintToken({ sub: 'term-b', channels: ['**'], ttl: 600 }), reconnect });
  await A.subscribe('term');
  await B.subscribe('term', { includeSenderMetadata: true });
  await A.rec.wait('presence', (p) => p.joined.some((e) => e.peerId === 'term-b'));
  const raw = await rawConnect(srv);

  const code = await srv.stop('SIGTERM');
  assert.equal(code, 0, `exit status on SIGTERM; stderr:\n${srv.stderr().slice(-2000)}`);

  // Raw view: going_away frame, then close 1001.
  const rc = await raw.waitClose();
  assert.equal(rc.code, 1001);
  const ga = raw.json().find((f) => f.type === 'going_away');
  assert.deepEqual(ga, { type: 'going_away', retryAfterMs: 1000 });
  const gaIdx = raw.frames.findIndex((f) => f.json && f.json.type === 'going_away');
  assert.equal(gaIdx, raw.frames.length - 1, 'going_away is the last frame before the close');

  // SDK view.
  for (const c of [A, B]) {
    const g = await c.rec.wait('going-away');
    assert.equal(g.retryAfterMs, 1000);
    const d = await c.rec.wait('disconnected');
    assert.equal(d.code, 1001);
    assert.equal(d.willReconnect, true);
    const gi = c.rec.events.findIndex((e) => e.name === 'going-away');
    const di = c.rec.events.findIndex((e) => e.name === 'disconnected');
    assert.ok(gi < di, 'going-away before disconnected');
  }
  // Let them fail a couple of times against the dead port, then restart.
  await waitFor(() => A.sockets.length >= 3, { what: 'A retrying while the server is down', timeoutMs: 15000 });
  await srv.restart();

  const ra = await A.rec.wait('connected', (e) => e.isReconnect, { timeoutMs: 20000 });
  const rb = await B.rec.wait('connected', (e) => e.isReconnect, { timeoutMs: 20000 });
  assert.equal(rb.peerId, 'term-b');
  assert.equal(typeof ra.peerId, 'string');
  // Replayed subscriptions: each gets a fresh snapshot after its reconnect
  // welcome; presence works again.
  for (const c of [A, B]) {
    const after = c.rec.events.findIndex((e) => e.name === 'connected' && e.p.isReconnect);
    await c.rec.wait('presence', (p) => p.channel === 'term', { after, timeoutMs: 15000 });
  }
  const C = await connectClient(srv);
  await C.subscribe('term');
  // C's view (its snapshot plus later joins) must show both replayed
  // members: a member becomes visible when its own snapshot is written,
  // which may be a moment after C's.
  const seen = () => new Set(C.rec.events.filter((e) => e.name === 'presence' && e.p.channel === 'term')
    .flatMap((e) => e.p.joined.map((j) => j.peerId)));
  await waitFor(() => seen().has(A.peerId) && seen().has('term-b'),
    { what: 'both replayed members visible to a newcomer', timeoutMs: 5000 });
  await A.rec.wait('presence', (p) => p.channel === 'term' && p.joined.some((e) => e.peerId === C.peerId));
  await B.rec.wait('presence', (p) => p.channel === 'term' && p.joined.some((e) => e.peerId === C.peerId));
  await C.publish('term', 'after-restart');
  await A.rec.wait('message', (m) => m.data === 'after-restart');
  await B.rec.wait('message', (m) => m.data === 'after-restart');
  await Promise.all([A, B, C].map((c) => c.close()));
});

test('SIGINT also exits 0 after going_away', async () => {
  const srv = await startServer();
  servers.push(srv);
  const raw = await rawConnect(srv);
  const code = await srv.stop('SIGINT');
  assert.equal(code, 0);
  const rc = await raw.waitClose();
  assert.equal(rc.code, 1001);
  assert.ok(raw.json().some((f) => f.type === 'going_away'));
});

test('JWT expiry: 4002 shortly before exp, tokenProvider called again, connected{isReconnect:true}', async () => {
  const srv = await startServer();
  servers.push(srv);
  const minted = [];
  const tokenProvider = async () => {
    const t = mintToken({ sub: 'short-lived', channels: ['**'], ttl: 3 });
    minted.push(jwtClaims(t).exp);
    return t;
  };
  const A = await connectClient(srv, { tokenProvider });
  const first = A.rec.of('connected')[0];
  assert.equal(first.expiresAt, minted[0]);
  await A.subscribe('exp-room');
  const d = await A.rec.wait('disconnected', () => true, { timeoutMs: 10000 });
  const dEv = A.rec.events.find((e) => e.name === 'disconnected');
  assert.equal(d.code, 4002, `close code at expiry (reason '${d.reason}')`);
  assert.equal(d.willReconnect, true);
  const expMs = first.expiresAt * 1000;
  const lead = expMs - dEv.t;
  assert.ok(lead > 0, `the 4002 close must come before exp (came ${-lead} ms after)`);
  assert.ok(lead <= 1250, `the 4002 close came ${lead} ms before exp; expected about 250 ms`);
  const re = await A.rec.wait('connected', (e) => e.isReconnect);
  assert.ok(minted.length >= 2, 'tokenProvider called again for the reconnect');
  assert.equal(re.expiresAt, minted.at(-1));
  assert.equal(re.peerId, 'short-lived');
  // Subscription replayed.
  const after = A.rec.events.findIndex((e) => e.name === 'connected' && e.p.isReconnect);
  await A.rec.wait('presence', (p) => p.channel === 'exp-room', { after });
  await A.close();
});
