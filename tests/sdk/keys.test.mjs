// Keys-file apps: publishable key channel patterns, actions, allowedOrigins,
// JWT secrets by kid, suspended apps. Spec: docs/metered-server.md (Keys file),
// protocol §1.3, §1.4.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, admin, mintToken, writeKeysFile, jwtClaims } from '../js/lib/server.mjs';
import {
  makeClient, connectClient, rawHandshake, rawConnect, rawRequest, cleanupAll, rejection, signJwt, nowSec, waitFor,
} from '../js/lib/sdk.mjs';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ALL = ['publish', 'subscribe', 'presence', 'send'];

async function rejectsWith(promise, code, what) {
  const err = await rejection(promise);
  assert.equal(err.name, code, `${what}: got '${err.name}: ${err.message}'`);
}

let srv;
let keys;
before(async () => {
  keys = writeKeysFile({
    apps: [
      {
        id: 'acme', maxConnections: 100, suspended: false,
        publishableKeys: [
          { key: 'pk_acme_rooms', channels: ['room-*'], actions: ALL, allowedOrigins: ['https://acme.example'] },
          { key: 'pk_acme_ro', channels: ['**'], actions: ['subscribe', 'presence'], allowedOrigins: ['*'] },
          { key: 'pk_acme_multi', channels: ['lobby', 'team/*/chat'], actions: ALL, allowedOrigins: ['https://a.example', 'http://localhost:3000'] },
        ],
        secrets: [{ kid: 'sk_id_acme_1', secret: 'acme secret with spaces and ünïcode' }],
      },
      {
        id: 'frozen', maxConnections: 10, suspended: true,
        publishableKeys: [{ key: 'pk_frozen', channels: ['**'], actions: ALL, allowedOrigins: ['*'] }],
        secrets: [],
      },
    ],
  });
  srv = await startServer({ args: ['--keys', keys] });
});
after(async () => { await cleanupAll(); if (srv) await srv.stop(); });

test('publishable key with channels room-*: room-1 ok, lobby and room-1/x → channel_not_authorized', async () => {
  const c = await connectClient(srv, { key: 'pk_acme_rooms' });
  const [w] = c.rec.of('connected');
  assert.match(w.peerId, UUID_RE);
  assert.equal(w.expiresAt, null);
  await c.subscribe('room-1');
  await c.subscribe('room-');
  await c.publish('room-42', { ok: true });
  await rejectsWith(c.subscribe('lobby'), 'channel_not_authorized', 'lobby');
  await rejectsWith(c.subscribe('room-1/x'), 'channel_not_authorized', 'room-1/x');
  await rejectsWith(c.publish('lobby', 1), 'channel_not_authorized', 'publish lobby');
  assert.equal(c.state, 'connected');
  await c.close();
});

test('multiple patterns: lobby and team/*/chat', async () => {
  const c = await connectClient(srv, { key: 'pk_acme_multi' });
  await c.subscribe('lobby');
  await c.subscribe('team/red/chat');
  await rejectsWith(c.subscribe('team/red/blue/chat'), 'channel_not_authorized', 'team/red/blue/chat');
  await rejectsWith(c.subscribe('lobby-2'), 'channel_not_authorized', 'lobby-2');
  await c.close();
});

test('key actions: a subscribe-only key gets action_not_permitted for publish and send', async () => {
  const ro = await connectClient(srv, { key: 'pk_acme_ro' });
  const other = await connectClient(srv, { key: 'pk_acme_rooms' });
  await ro.subscribe('anything/at/all');
  await rejectsWith(ro.publish('anything', 1), 'action_not_permitted', 'publish');
  await rejectsWith(ro.send(other.peerId, 1), 'action_not_permitted', 'send');
  assert.equal(ro.state, 'connected');
  await ro.close(); await other.close();
});

test('allowedOrigins: listed origin and no Origin are accepted; another Origin → HTTP 401 origin_not_allowed', async () => {
  const good = await rawConnect(srv, { key: 'pk_acme_rooms', wsOptions: { origin: 'https://acme.example' } });
  assert.equal(good.frames[0].json.type, 'welcome');
  good.close();
  const none = await rawConnect(srv, { key: 'pk_acme_rooms' });
  assert.equal(none.frames[0].json.type, 'welcome');
  none.close();
  for (const origin of ['https://evil.example', 'https://acme.example.evil', 'http://acme.example', 'null']) {
    const r = await rawHandshake(srv, { key: 'pk_acme_rooms', wsOptions: { origin } });
    if (r.ok) { r.sock.terminate(); assert.fail(`Origin ${origin} must be refused`); }
    assert.equal(r.status, 401, `Origin ${origin}`);
    assert.equal(r.body.trim(), 'origin_not_allowed', `Origin ${origin}`);
  }
  // Second list entry works too; '*' key accepts any origin.
  const multi = await rawConnect(srv, { key: 'pk_acme_multi', wsOptions: { origin: 'http://localhost:3000' } });
  multi.close();
  const star = await rawConnect(srv, { key: 'pk_acme_ro', wsOptions: { origin: 'https://whatever.example' } });
  star.close();
  // The SDK sees the refusal as 1006.
  const c = makeClient(srv, { key: 'pk_acme_rooms', wsOptions: { origin: 'https://evil.example' } });
  const err = await rejection(c.connect());
  assert.equal(err.name, 'SignallingConnectError');
  assert.equal(err.closeCode, 1006);
});

test('allowedOrigins refusal during reconnects: 1006, willReconnect true, retried', async () => {
  const wsOptions = { origin: 'https://acme.example' };
  const c = await connectClient(srv, { key: 'pk_acme_rooms', wsOptions });
  wsOptions.origin = 'https://evil.example'; // every later socket of this client sends a refused Origin
  const r = await admin(srv, 'POST', `/v1/peers/${encodeURIComponent(c.peerId)}/drop?code=1011`);
  assert.equal(r.status, 204);
  await waitFor(() => c.rec.count('disconnected', (d) => d.code === 1006) >= 3, { what: 'three refused reconnects' });
  for (const d of c.rec.of('disconnected', (x) => x.code === 1006)) assert.equal(d.willReconnect, true);
  assert.equal(c.state, 'reconnecting');
  wsOptions.origin = 'https://acme.example'; // and it recovers once the Origin is allowed again
  await c.rec.wait('connected', (e) => e.isReconnect, { timeoutMs: 15000 });
  await c.close();
});

test('JWT signed with a keys-file secret (minted by the CLI and by JS); the dev app still works alongside', async () => {
  const t = mintToken({ keys, kid: 'sk_id_acme_1', sub: 'acme-bob', channels: ['lobby', 'room-1'], permissions: ALL, peerMetadata: { name: 'Bob' }, ttl: 600 });
  const c = await connectClient(srv, { token: t });
  assert.equal(c.peerId, 'acme-bob');
  assert.equal(c.rec.of('connected')[0].expiresAt, jwtClaims(t).exp);
  await c.subscribe('room-1');
  await rejectsWith(c.subscribe('room-2'), 'channel_not_authorized', 'room-2 not in JWT channels');
  await c.close();
  const js = signJwt({ sub: 'acme-js', exp: nowSec() + 60, channels: ['**'] }, { kid: 'sk_id_acme_1', secret: 'acme secret with spaces and ünïcode' });
  const s = await rawConnect(srv, { token: js });
  assert.equal(s.frames[0].json.peerId, 'acme-js');
  s.close();
  // The wrong app's secret for this kid → 4001.
  const bad = signJwt({ sub: 'acme-x', exp: nowSec() + 60, channels: ['**'] }, { kid: 'sk_id_acme_1', secret: 'sk_dev_local' });
  const r = await rawHandshake(srv, { token: bad });
  assert.ok(r.ok);
  assert.equal((await r.sock.waitClose()).code, 4001);
  const dev = await connectClient(srv);
  await dev.close();
});

test('apps are isolated: a dev-app publish never reaches an acme subscriber on the same channel name', async () => {
  const acme = await connectClient(srv, { key: 'pk_acme_rooms' });
  const dev = await connectClient(srv);
  await acme.subscribe('room-iso');
  await dev.subscribe('room-iso');
  const snap = await dev.rec.wait('presence', (p) => p.channel === 'room-iso');
  assert.deepEqual(snap.joined, [], 'members of another app are invisible');
  await dev.publish('room-iso', 'dev-msg');
  await acme.publish('room-iso', 'acme-msg');
  const s = await rawConnect(srv);
  await rawRequest(s, { type: 'subscribe', channel: 'room-iso' });
  s.send({ type: 'ping' });
  await s.waitFrame((f) => f.type === 'pong');
  // dev got nothing from acme and acme nothing from dev (sync via a second dev publish).
  await dev.publish('room-iso', 'dev-sync');
  await s.waitFrame((f) => f.type === 'message' && f.data === 'dev-sync');
  assert.equal(acme.rec.count('message'), 0);
  assert.equal(dev.rec.count('message'), 0);
  assert.equal((await rejection(dev.send(acme.peerId, 1))).name, 'peer_not_found', 'direct across apps');
  s.close();
  await acme.close(); await dev.close();
});

test('an app suspended in the keys file: upgrade then 4012', async () => {
  const r = await rawHandshake(srv, { key: 'pk_frozen' });
  assert.ok(r.ok, `expected upgrade, got ${r.status}`);
  assert.equal((await r.sock.waitClose()).code, 4012);
  const c = makeClient(srv, { key: 'pk_frozen' });
  const err = await rejection(c.connect());
  assert.equal(err.closeCode, 4012);
});
