// Close codes and handshake refusals as the SDK sees them (disconnected
// {code, willReconnect}); spec: protocol §1.4, §6.1, §10.1-§10.2, §10.14;
// docs/metered-server.md (credential table, admin API, limits).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, admin, mintToken, metrics, writeKeysFile, sleep } from '../js/lib/server.mjs';
import {
  makeClient, connectClient, makePeer, rawHandshake, rawConnect, rawRequest, cleanupAll, waitFor,
  rejection, withTimeout, signJwt, nowSec,
} from '../js/lib/sdk.mjs';

/** A raw connection that is upgraded and then closed with `code` before any welcome. */
async function expectUpgradeThenClose(srv, opts, code, what) {
  const r = await rawHandshake(srv, opts);
  assert.ok(r.ok, `${what}: expected an upgrade, got HTTP ${r.status} ${r.body}`);
  const c = await r.sock.waitClose();
  assert.equal(c.code, code, `${what}: close code (reason '${c.reason}')`);
  assert.ok(!r.sock.json().some((f) => f.type === 'welcome'), `${what}: no welcome before the close`);
}

async function expectHttp(srv, opts, status, body, what) {
  const r = await rawHandshake(srv, opts);
  if (r.ok) { r.sock.terminate(); assert.fail(`${what}: expected HTTP ${status}, got an upgrade`); }
  assert.equal(r.status, status, `${what}: status`);
  if (body !== undefined) assert.equal(r.body.trim(), body, `${what}: body`);
}

/** Run fn(srv) against a server of its own, stopped afterwards. */
async function withServer(opts, fn) {
  const srv = await startServer(opts);
  try {
    await fn(srv);
  } finally {
    await cleanupAll();
    await srv.stop();
  }
}

async function connectRejects(srv, opts, closeCode, what) {
  const c = makeClient(srv, opts);
  const err = await rejection(c.connect(), 20000);
  assert.equal(err.name, 'SignallingConnectError', `${what}: ${err.name} ${err.message}`);
  assert.equal(err.closeCode, closeCode, `${what}: closeCode`);
  assert.equal(c.state, 'closed');
  return c;
}

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await cleanupAll(); if (srv) await srv.stop(); });

test('admin API needs the bearer token', async () => {
  assert.equal((await admin(srv, 'GET', '/v1/peers', { token: null })).status, 401);
  assert.equal((await admin(srv, 'GET', '/v1/peers', { token: 'wrong' })).status, 401);
  assert.equal((await admin(srv, 'DELETE', '/v1/peers/x', { token: null })).status, 401);
  const r = await admin(srv, 'GET', '/v1/peers');
  assert.equal(r.status, 200);
  assert.ok(Array.isArray(r.json), `GET /v1/peers is a JSON array: ${r.text}`);
  const h = await fetch(srv.http + '/healthz');
  assert.equal(h.status, 200);
});

test('4020: admin DELETE peer → terminal disconnected{4020, willReconnect:false}; others see left', async () => {
  const A = await connectClient(srv);
  const B = await connectClient(srv);
  await A.subscribe('kick');
  await B.subscribe('kick');
  await B.rec.wait('presence', (p) => p.channel === 'kick' && p.joined.some((e) => e.peerId === A.peerId));
  const peers = await admin(srv, 'GET', '/v1/peers');
  const entry = peers.json.find((p) => p.peerId === A.peerId);
  assert.ok(entry, `A listed in GET /v1/peers: ${peers.text}`);
  assert.equal(entry.app, 'dev');
  assert.deepEqual(entry.channels, ['kick']);

  const r = await admin(srv, 'DELETE', `/v1/peers/${encodeURIComponent(A.peerId)}`);
  assert.equal(r.status, 204);
  const d = await A.rec.wait('disconnected');
  assert.equal(d.code, 4020);
  assert.equal(d.willReconnect, false);
  await waitFor(() => A.state === 'closed', { what: 'A closed' });
  const l = await B.rec.wait('presence', (p) => p.left.some((e) => e.peerId === A.peerId));
  assert.deepEqual(l.joined, []);
  assert.equal((await admin(srv, 'DELETE', `/v1/peers/${encodeURIComponent(A.peerId)}`)).status, 404);
  assert.equal((await admin(srv, 'DELETE', '/v1/peers/no-such-peer')).status, 404);
  assert.equal(A.sockets.length, 1, 'no reconnect attempt after a terminal close');
  await B.close();
});

test('4020 reaches MeteredPeer as error admin_disconnect, then left', async () => {
  const p = makePeer(srv);
  await withTimeout(p.join('kick-peer'), 12000, 'join');
  const r = await admin(srv, 'DELETE', `/v1/peers/${encodeURIComponent(p.peerId)}`);
  assert.equal(r.status, 204);
  const e = await p.rec.wait('error');
  assert.equal(e.err.name, 'admin_disconnect');
  await p.rec.wait('left');
  assert.equal(p.state, 'closed');
});

test('admin drop ?code=N closes with that retryable code and the SDK reconnects', async () => {
  const A = await connectClient(srv);
  await A.subscribe('dropper');
  const r = await admin(srv, 'POST', `/v1/peers/${encodeURIComponent(A.peerId)}/drop?code=1011`);
  assert.equal(r.status, 204);
  const d = await A.rec.wait('disconnected');
  assert.equal(d.code, 1011);
  assert.equal(d.willReconnect, true);
  await A.rec.wait('connected', (e) => e.isReconnect);
  const r2 = await admin(srv, 'POST', `/v1/peers/${encodeURIComponent(A.peerId)}/drop`);
  assert.equal(r2.status, 204);
  const d2 = await A.rec.wait('disconnected', (x) => x !== d);
  assert.equal(d2.code, 1001, `drop without ?code must close with the documented default 1001 (got ${d2.code} '${d2.reason}')`);
  assert.equal((await admin(srv, 'POST', '/v1/peers/nobody/drop')).status, 404);
  await A.close();
});

test('admin drop: the close code on the wire is exactly the requested retryable code (raw)', async () => {
  const wrong = [];
  for (const code of [1000, 1001, 1008, 1011, 3000, 4000, 4005, 4011, 4999]) {
    const s = await rawConnect(srv);
    const r = await admin(srv, 'POST', `/v1/peers/${encodeURIComponent(s.frames[0].json.peerId)}/drop?code=${code}`);
    if (r.status !== 204) { wrong.push(`${code}: HTTP ${r.status} ${r.text.trim()}`); s.terminate(); continue; }
    const c = await s.waitClose();
    if (c.code !== code) wrong.push(`${code}: closed with ${c.code} '${c.reason}'`);
  }
  assert.deepEqual(wrong, [], 'drop?code=N must put N in the close frame');
  // Terminal codes are not "retryable", and libsoup cannot send 1012-1014
  // as given: both refused.
  const s = await rawConnect(srv);
  for (const code of [4001, 4003, 4012, 4020, 1012, 1013, 1014, 1006, 999, 5000]) {
    const r = await admin(srv, 'POST', `/v1/peers/${encodeURIComponent(s.frames[0].json.peerId)}/drop?code=${code}`);
    assert.equal(r.status, 400, `drop?code=${code} must be refused; got ${r.status}`);
  }
  s.close();
});

test('4012: suspend → open connections terminal 4012, new ones upgraded and closed 4012; unsuspend restores', async () => {
  const A = await connectClient(srv);
  assert.equal((await admin(srv, 'POST', '/v1/apps/dev/suspend')).status, 204);
  try {
    const d = await A.rec.wait('disconnected');
    assert.equal(d.code, 4012);
    assert.equal(d.willReconnect, false);
    await expectUpgradeThenClose(srv, {}, 4012, 'pk while suspended');
    await expectUpgradeThenClose(srv, { token: mintToken({ sub: 'susp', channels: ['**'], ttl: 600 }) }, 4012, 'JWT while suspended');
    await connectRejects(srv, {}, 4012, 'SDK connect while suspended');
  } finally {
    assert.equal((await admin(srv, 'POST', '/v1/apps/dev/unsuspend')).status, 204);
  }
  const B = await connectClient(srv);
  assert.equal(B.state, 'connected');
  assert.equal((await admin(srv, 'POST', '/v1/apps/nope/suspend')).status, 404);
  assert.equal((await admin(srv, 'POST', '/v1/apps/nope/unsuspend')).status, 404);
  await B.close();
});

test('4012 reaches MeteredPeer as error account_suspended', async () => {
  const p = makePeer(srv);
  await withTimeout(p.join('susp-peer'), 12000, 'join');
  assert.equal((await admin(srv, 'POST', '/v1/apps/dev/suspend')).status, 204);
  try {
    const e = await p.rec.wait('error');
    assert.equal(e.err.name, 'account_suspended');
    await waitFor(() => p.state === 'closed', { what: 'peer closed' });
  } finally {
    assert.equal((await admin(srv, 'POST', '/v1/apps/dev/unsuspend')).status, 204);
  }
});

test('1009: a frame over 64 KB closes the socket; 65536 bytes is still fine', async () => {
  const s = await rawConnect(srv);
  const envelope = (n) => `{"type":"publish","channel":"big","data":"${'x'.repeat(n)}","requestId":"big-1"}`;
  const base = envelope(0).length;
  const exact = envelope(65536 - base);
  assert.equal(Buffer.byteLength(exact), 65536);
  s.send(exact);
  const a = await s.waitFrame((f) => f.requestId === 'big-1');
  assert.equal(a.type, 'ack', `a 65536-byte frame is within the limit: ${JSON.stringify(a)}`);
  s.send(envelope(65537 - base));
  const c = await s.waitClose();
  assert.equal(c.code, 1009);

  const s2 = await rawConnect(srv);
  s2.send('y'.repeat(200000));
  assert.equal((await s2.waitClose()).code, 1009);
});

test('1009 as seen by the SDK: retried', async () => {
  const A = await connectClient(srv);
  A.sockets.at(-1).send(JSON.stringify({ type: 'publish', channel: 'big', data: 'z'.repeat(70000), requestId: 'x' }));
  const d = await A.rec.wait('disconnected');
  assert.equal(d.code, 1009);
  assert.equal(d.willReconnect, true);
  await A.rec.wait('connected', (e) => e.isReconnect);
  await A.close();
});

test('4011: a burst of 250 frames closes with 4011 (raw)', async () => {
  const s = await rawConnect(srv);
  for (let i = 0; i < 250; i++) s.send('{"type":"ping"}');
  const c = await s.waitClose();
  assert.equal(c.code, 4011);
  const pongs = s.json().filter((f) => f.type === 'pong').length;
  assert.ok(pongs >= 150 && pongs <= 249, `the burst allowance (~200) was honoured before the close: ${pongs} pongs`);
});

test('4011 as seen by the SDK: retried with normal backoff, subscription replayed', async () => {
  const A = await connectClient(srv);
  await A.subscribe('rate');
  await A.rec.wait('presence', (p) => p.channel === 'rate');
  const ps = [];
  for (let i = 0; i < 260; i++) ps.push(A.publish('rate', i).catch((e) => e));
  const d = await A.rec.wait('disconnected');
  assert.equal(d.code, 4011);
  assert.equal(d.willReconnect, true);
  await A.rec.wait('connected', (e) => e.isReconnect);
  const results = await Promise.all(ps);
  assert.ok(results.some((r) => r && r.name === 'DisconnectedError'), 'pending publishes rejected on the close');
  // Replayed subscription: a snapshot for 'rate' arrives after the reconnect.
  const after = A.rec.events.findIndex((e) => e.name === 'connected' && e.p.isReconnect);
  await A.rec.wait('presence', (p) => p.channel === 'rate', { after });
  await A.close();
});

test('sustained 60 frames/s for 3 s is not rate limited', async () => {
  const s = await rawConnect(srv);
  for (let sec = 0; sec < 3; sec++) {
    for (let i = 0; i < 60; i++) s.send('{"type":"ping"}');
    await sleep(1000);
  }
  await waitFor(() => s.json().filter((f) => f.type === 'pong').length >= 180, { what: '180 pongs' });
  assert.equal(s.closeInfo, null);
  s.close();
});

test('HTTP 401 invalid_token for an unparseable JWT or a JWT without kid', async () => {
  await expectHttp(srv, { token: 'garbage' }, 401, 'invalid_token', 'garbage');
  await expectHttp(srv, { token: 'a.b' }, 401, 'invalid_token', 'two segments');
  await expectHttp(srv, { token: 'a.b.c' }, 401, 'invalid_token', 'segments not base64url JSON');
  await expectHttp(srv, { token: signJwt({ sub: 'x', exp: nowSec() + 60, channels: ['**'] }, { kid: null }) }, 401, 'invalid_token', 'no kid');
});

test('4001 after upgrade: bad signature, alg none, other alg, unknown kid, nbf in the future, unknown pk', async () => {
  const claims = { sub: 'x4001', exp: nowSec() + 600, channels: ['**'] };
  await expectUpgradeThenClose(srv, { token: signJwt(claims, { secret: 'not-the-secret' }) }, 4001, 'bad signature');
  await expectUpgradeThenClose(srv, { token: signJwt(claims, { alg: 'none' }) }, 4001, 'alg none');
  await expectUpgradeThenClose(srv, { token: signJwt(claims, { header: { alg: 'HS512', kid: 'dev' } }) }, 4001, 'alg HS512');
  await expectUpgradeThenClose(srv, { token: signJwt(claims, { kid: 'no-such-kid' }) }, 4001, 'unknown kid');
  await expectUpgradeThenClose(srv, { token: signJwt({ ...claims, nbf: nowSec() + 300 }) }, 4001, 'nbf in the future');
  await expectUpgradeThenClose(srv, { key: 'pk_no_such_key' }, 4001, 'unknown pk');
  // A JS-signed, valid token works (proves the JWT encoding above is right).
  const ok = await rawConnect(srv, { token: signJwt(claims) });
  assert.equal(ok.frames[0].json.peerId, 'x4001');
  ok.close();
  await connectRejects(srv, { key: 'pk_no_such_key' }, 4001, 'SDK with unknown pk');
});

test('expired token: upgrade then 4002; the SDK retries a 4002 after it was once connected', async () => {
  const expired = signJwt({ sub: 'late', exp: nowSec() - 30, channels: ['**'] });
  await expectUpgradeThenClose(srv, { token: expired }, 4002, 'expired');
  let calls = 0;
  const tokenProvider = async () => {
    calls++;
    return calls === 2 ? expired : mintToken({ sub: 'late', channels: ['**'], ttl: 600 });
  };
  const A = await connectClient(srv, { tokenProvider });
  assert.equal((await admin(srv, 'POST', '/v1/peers/late/drop?code=1011')).status, 204);
  const d = await A.rec.wait('disconnected', (x) => x.code === 4002);
  assert.equal(d.willReconnect, true);
  await A.rec.wait('connected', (e) => e.isReconnect);
  assert.ok(calls >= 3, `tokenProvider called again after 4002 (${calls})`);
  await A.close();
});

test('HTTP 401 at upgrade is 1006 to the SDK: first connect rejects, reconnects keep retrying', async () => {
  await connectRejects(srv, { tokenProvider: async () => 'garbage' }, 1006, 'SDK with an unparseable token');
  let calls = 0;
  const tokenProvider = async () => (++calls === 1 ? mintToken({ sub: 'flaky', channels: ['**'], ttl: 600 }) : 'garbage');
  const A = await connectClient(srv, { tokenProvider });
  assert.equal((await admin(srv, 'POST', '/v1/peers/flaky/drop?code=1011')).status, 204);
  await waitFor(() => A.rec.count('disconnected', (x) => x.code === 1006) >= 3, { what: '3 refused reconnects' });
  for (const d of A.rec.of('disconnected', (x) => x.code === 1006)) assert.equal(d.willReconnect, true);
  assert.equal(A.state, 'reconnecting');
  await A.close();
});

test('revoking kid dev (own server): JWT connections get terminal 4001, pk ones stay; later JWT connects get 4001', async () => {
  await withServer({}, async (srv) => {
    const J = await connectClient(srv, { tokenProvider: async () => mintToken({ sub: 'revokee', channels: ['**'], ttl: 600 }) });
    const P = await connectClient(srv);
    assert.equal((await admin(srv, 'POST', '/v1/keys/dev/revoke')).status, 204);
    const d = await J.rec.wait('disconnected');
    assert.equal(d.code, 4001);
    assert.equal(d.willReconnect, false);
    await waitFor(() => J.state === 'closed', { what: 'J closed' });
    assert.equal(J.sockets.length, 1, 'no reconnect after 4001');
    await expectUpgradeThenClose(srv, { token: mintToken({ sub: 'after', channels: ['**'], ttl: 600 }) }, 4001, 'fresh JWT after revoke');
    await connectRejects(srv, { token: mintToken({ sub: 'after2', channels: ['**'], ttl: 600 }) }, 4001, 'SDK JWT after revoke');
    // pk untouched.
    P.sockets.at(-1).send('{"type":"ping"}');
    await P.subscribe('still-here');
    assert.equal(P.rec.count('disconnected'), 0);
    assert.equal((await admin(srv, 'POST', '/v1/keys/no-such-key/revoke')).status, 404);

    // Revoking the publishable key.
    assert.equal((await admin(srv, 'POST', '/v1/keys/pk_dev_local/revoke')).status, 204);
    const dp = await P.rec.wait('disconnected');
    assert.equal(dp.code, 4001);
    assert.equal(dp.willReconnect, false);
    await expectUpgradeThenClose(srv, {}, 4001, 'pk after revoke');
  });
});

test('HTTP 429 on the 4th upgrade in 60 s (own server, --ip-connect-limit 3); the SDK sees 1006 and keeps retrying', async () => {
  await withServer({ args: ['--ip-connect-limit', '3'] }, async (srv) => {
    const A = await connectClient(srv); // 1
    const r2 = await rawConnect(srv); // 2
    const r3 = await rawConnect(srv); // 3
    await expectHttp(srv, {}, 429, undefined, '4th upgrade');
    await connectRejects(srv, {}, 1006, 'SDK first connect refused with 429');
    assert.equal((await admin(srv, 'POST', `/v1/peers/${encodeURIComponent(A.peerId)}/drop?code=1011`)).status, 204);
    await waitFor(() => A.rec.count('disconnected', (x) => x.code === 1006) >= 2, { what: 'two 1006 reconnect failures' });
    for (const d of A.rec.of('disconnected', (x) => x.code === 1006)) assert.equal(d.willReconnect, true);
    assert.equal(A.state, 'reconnecting');
    const m = await metrics(srv);
    const refusals = Object.entries(m).filter(([k]) => k.startsWith('metered_handshake_refusals_total')).reduce((n, [, v]) => n + v, 0);
    assert.ok(refusals >= 3, `handshake refusals counted in /metrics (${refusals})`);
    await A.close();
    r2.close(); r3.close();
  });
});

test('4010 (own server, keys file maxConnections 1): one over the cap is upgraded and closed 4010; the SDK waits ≥ 24 s before retrying', async () => {
  const keys = writeKeysFile({
    apps: [{
      id: 'tiny', maxConnections: 1, suspended: false,
      publishableKeys: [{ key: 'pk_tiny', channels: ['**'], actions: ['publish', 'subscribe', 'presence', 'send'], allowedOrigins: ['*'] }],
      secrets: [],
    }],
  });
  await withServer({ args: ['--keys', keys] }, async (srv) => {
    // B connects first, with a slow-ish deterministic backoff, then is dropped;
    // A takes the only slot; B's reconnect gets 4010.
    const B = await connectClient(srv, { key: 'pk_tiny', reconnect: { initialDelayMs: 1500, multiplier: 1, maxDelayMs: 1500, jitterRatio: 0 } });
    await expectUpgradeThenClose(srv, { key: 'pk_tiny' }, 4010, 'raw second connection');
    assert.equal((await admin(srv, 'POST', `/v1/peers/${encodeURIComponent(B.peerId)}/drop?code=1011`)).status, 204);
    await B.rec.wait('disconnected', (x) => x.code === 1011);
    await waitFor(async () => (await admin(srv, 'GET', '/v1/peers')).json.length === 0, { what: 'slot freed' });
    const A = await connectClient(srv, { key: 'pk_tiny' });
    const d = await B.rec.wait('disconnected', (x) => x.code === 4010, { timeoutMs: 15000 });
    assert.equal(d.willReconnect, true, '4010 is retried');
    const attempts = B.sockets.length;
    // A normal retry would come 1.5 s later; the 4010 floor pushes it to ≥ 24 s.
    await sleep(4000);
    assert.equal(B.sockets.length, attempts, 'no reconnect attempt within 4 s of a 4010 close');
    assert.equal(B.state, 'reconnecting');
    const m = await metrics(srv);
    assert.ok((m['metered_closes_total{code="4010"}'] ?? 0) >= 2, `metered_closes_total{code="4010"} counted: ${JSON.stringify(m)}`);
    await B.close();
    await A.close();
  });
});
