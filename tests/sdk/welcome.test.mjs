// Welcome frame, SDK `connected` event, peerId assignment, ping/pong.
// Spec: protocol §0.7, §1.3, §3, §10.2; docs/metered-server.md (JWT connections).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, admin, mintToken, jwtClaims } from '../js/lib/server.mjs';
import { connectClient, rawConnect, cleanupAll, waitFor, nowSec } from '../js/lib/sdk.mjs';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function assertServerTime(t) {
  assert.equal(typeof t, 'number');
  assert.ok(Number.isFinite(t), `serverTime ${t} finite`);
  assert.ok(Number.isInteger(t), `serverTime ${t} must be integer Unix seconds`);
  assert.ok(Math.abs(t - nowSec()) <= 5, `serverTime ${t} within 5 s of now (${nowSec()}) — seconds, not ms`);
}

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await cleanupAll(); if (srv) await srv.stop(); });

test('pk welcome: first frame, peerId UUID, expiresAt null (key present), serverTime int seconds, maxMessageSize 65536, no metadata', async () => {
  const s = await rawConnect(srv);
  const first = s.frames[0];
  assert.ok(first && first.json, 'first frame is JSON text');
  const w = first.json;
  assert.equal(w.type, 'welcome', 'first frame is the welcome');
  assert.equal(typeof w.peerId, 'string');
  assert.match(w.peerId, UUID_RE, 'pk connections get a UUID peerId');
  assert.ok(Object.hasOwn(w, 'expiresAt'), 'expiresAt key must be present');
  assert.equal(w.expiresAt, null);
  assertServerTime(w.serverTime);
  assert.equal(w.maxMessageSize, 65536);
  assert.ok(!Object.hasOwn(w, 'metadata'), 'pk welcome carries no metadata');
  s.close();
});

test('pk: a fresh UUID on every connect (raw and SDK reconnect)', async () => {
  const ids = new Set();
  for (let i = 0; i < 4; i++) {
    const s = await rawConnect(srv);
    ids.add(s.frames[0].json.peerId);
    s.close();
  }
  assert.equal(ids.size, 4, 'four connects, four distinct peerIds');

  const c = await connectClient(srv);
  const first = c.peerId;
  assert.match(first, UUID_RE);
  const r = await admin(srv, 'POST', `/v1/peers/${encodeURIComponent(first)}/drop?code=1011`);
  assert.equal(r.status, 204, `drop answered ${r.status} ${r.text}`);
  const d = await c.rec.wait('disconnected');
  assert.equal(d.code, 1011);
  assert.equal(d.willReconnect, true);
  const re = await c.rec.wait('connected', (e) => e.isReconnect === true);
  assert.match(re.peerId, UUID_RE);
  assert.notEqual(re.peerId, first, 'a pk reconnect gets a new UUID');
  await c.close();
});

test('SDK connected event for a pk key', async () => {
  const c = await connectClient(srv);
  const [e] = c.rec.of('connected');
  assert.ok(e);
  assert.equal(e.isReconnect, false);
  assert.match(e.peerId, UUID_RE);
  assert.equal(e.expiresAt, null);
  assertServerTime(e.serverTime);
  assert.equal(e.maxMessageSize, 65536);
  assert.equal(e.iceServers, undefined, 'no iceServers without metadata');
  assert.equal(c.state, 'connected');
  await c.close();
});

test('JWT: sub becomes peerId, expiresAt echoes exp (raw and SDK)', async () => {
  const token = mintToken({ sub: 'alice-welcome', channels: ['**'], ttl: 600 });
  const claims = jwtClaims(token);
  assert.equal(claims.sub, 'alice-welcome');
  assert.ok(Number.isInteger(claims.exp));
  assert.ok(Math.abs(claims.exp - (nowSec() + 600)) <= 5, 'minted exp = now + ttl');

  const s = await rawConnect(srv, { token });
  const w = s.frames[0].json;
  assert.equal(w.type, 'welcome');
  assert.equal(w.peerId, 'alice-welcome');
  assert.equal(w.expiresAt, claims.exp);
  assertServerTime(w.serverTime);
  assert.equal(w.maxMessageSize, 65536);
  assert.ok(!Object.hasOwn(w, 'metadata'), 'no metadata claim, no welcome.metadata');
  s.close();
  await s.waitClose();

  const c = await connectClient(srv, { token });
  const [e] = c.rec.of('connected');
  assert.equal(e.peerId, 'alice-welcome');
  assert.equal(e.expiresAt, claims.exp);
  assert.equal(e.isReconnect, false);
  await c.close();
});

test('JWT metadata is passed through verbatim; metadata.iceServers reaches connected.iceServers', async () => {
  const metadata = {
    iceServers: [
      { urls: ['stun:stun.example.org:3478'] },
      { urls: 'turn:turn.example.org:443?transport=tcp', username: 'user-1', credential: 'cred-1' },
    ],
    room: { title: 'Zimmer ü — 部屋', n: [1, 2.5, -3], flag: true, none: null },
  };
  const token = mintToken({ sub: 'meta-user', channels: ['**'], ttl: 600, metadata });
  const s = await rawConnect(srv, { token });
  const w = s.frames[0].json;
  assert.deepEqual(w.metadata, metadata);
  s.close();
  await s.waitClose();

  const c = await connectClient(srv, { token });
  const [e] = c.rec.of('connected');
  assert.deepEqual(e.iceServers, metadata.iceServers);
  await c.close();
});

test('mint-token CLI accepts UTF-8 (non-ASCII) JSON in --metadata / --peer-metadata', async () => {
  const { execFileSync } = await import('node:child_process');
  const md = { title: 'Zimmer ü — 部屋 😀' };
  let out;
  try {
    out = execFileSync(process.env.METERED_SERVER, ['--mint-token', '--dev', '--sub', 'utf8-cli', '--ttl', '60',
      '--metadata', JSON.stringify(md), '--peer-metadata', JSON.stringify({ name: 'Jürgen' })],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C.UTF-8' } });
  } catch (e) {
    assert.fail(`--mint-token with UTF-8 JSON failed under LC_ALL=C.UTF-8: ${String(e.stderr).trim()}`);
  }
  const claims = jwtClaims(out.trim());
  assert.deepEqual(claims.metadata, md);
  assert.deepEqual(claims.peerMetadata, { name: 'Jürgen' });
});

test('JWT metadata with iceServers: [] gives connected.iceServers []', async () => {
  const token = mintToken({ sub: 'meta-empty', channels: ['**'], ttl: 600, metadata: { iceServers: [] } });
  const c = await connectClient(srv, { token });
  assert.deepEqual(c.rec.of('connected')[0].iceServers, []);
  await c.close();
});

test('ping is answered with exactly {"type":"pong"} (no ack)', async () => {
  const s = await rawConnect(srv);
  const mark = s.frames.length;
  for (let i = 0; i < 3; i++) {
    s.send({ type: 'ping' });
    const p = await s.waitFrame((f) => f.type === 'pong', { what: 'pong' });
    assert.deepEqual(p, { type: 'pong' });
  }
  // A request after the pings is answered in order: nothing else arrived for the pings.
  s.send({ type: 'subscribe', channel: 'after-ping', requestId: 'ap-1' });
  await s.waitFrame((f) => f.type === 'ack' && f.requestId === 'ap-1');
  const between = s.json(mark).filter((f) => f.type !== 'pong' && !(f.type === 'ack' && f.requestId === 'ap-1') && f.type !== 'presence');
  assert.deepEqual(between, [], 'pings produce only pongs');
  s.close();
});

test('an SDK client stays connected through heartbeats (pong keeps it alive)', async () => {
  // inactivityTimeoutMs 3000 → heartbeat ping every 1000 ms; without pongs the
  // watchdog would close 4000 after 3 s of silence.
  const c = await connectClient(srv, { inactivityTimeoutMs: 3000 });
  const sock = c.sockets.at(-1);
  let pongs = 0;
  sock.on('message', (d) => { if (String(d).includes('"pong"')) pongs++; });
  await waitFor(() => pongs >= 4, { timeoutMs: 15000, what: '4 pongs to SDK heartbeats' });
  assert.equal(c.rec.count('disconnected'), 0, 'no inactivity close');
  assert.equal(c.state, 'connected');
  await c.close();
});
