// Every server error code the server can produce; correlated errors reject
// the SDK promise with err.name == code; the connection stays open.
// Spec: protocol §3.2, §6.2, §10.3, §10.14-§10.16; docs/metered-server.md (Limits).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, mintToken } from '../js/lib/server.mjs';
import {
  connectClient, rawConnect, rawRequest, cleanupAll, waitFor, rejection, signJwt, nowSec,
} from '../js/lib/sdk.mjs';

/** Assert an SDK promise rejects with err.name === code. */
async function rejectsWith(promise, code, what) {
  const err = await rejection(promise);
  assert.equal(err.name, code, `${what}: expected rejection '${code}', got '${err.name}: ${err.message}'`);
  return err;
}

/** A raw frame answered by error `code` echoing its requestId. */
async function rawExpectError(sock, frame, code, what = JSON.stringify(frame)) {
  const a = await rawRequest(sock, frame);
  assert.equal(a.type, 'error', `${what}: expected error ${code}, got ${JSON.stringify(a)}`);
  assert.equal(a.code, code, `${what}: expected ${code}, got ${JSON.stringify(a)}`);
  if (a.message !== undefined) assert.equal(typeof a.message, 'string');
  return a;
}

async function stillOpen(sock) {
  sock.send({ type: 'ping' });
  await sock.waitFrame((f) => f.type === 'pong', { what: 'pong (connection still open)' });
  assert.equal(sock.closeInfo, null);
}

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await cleanupAll(); if (srv) await srv.stop(); });

test('malformed_message: invalid JSON / not an object / no string type → error without requestId, connection stays open', async () => {
  const s = await rawConnect(srv);
  const bad = ['{', 'not json at all', '{"type":"subscribe",}', '[1,2,3]', '"just a string"', '42', 'null', '{}',
    '{"type":5}', '{"type":null}', '{"type":["publish"]}', '{"channel":"x","requestId":"no-type-1"}'];
  for (const text of bad) {
    const mark = s.frames.length;
    s.send(text);
    const e = await s.waitFrame((f) => f.type === 'error', { what: `error for ${text}` });
    assert.equal(e.code, 'malformed_message', `for ${text}: ${JSON.stringify(e)}`);
    if (text.includes('no-type-1')) {
      // requestId is optional here, but if echoed it must be ours.
      if (Object.hasOwn(e, 'requestId')) assert.equal(e.requestId, 'no-type-1');
    } else {
      assert.ok(!Object.hasOwn(e, 'requestId'), `no requestId for unparseable input ${text}: ${JSON.stringify(e)}`);
    }
    await stillOpen(s);
    const errs = s.json(mark).filter((f) => f.type === 'error');
    assert.equal(errs.length, 1, `exactly one error for ${text}`);
  }
  s.close();
});

test('malformed_message: JSON nested deeper than 128; 100 levels are fine', async () => {
  const s = await rawConnect(srv);
  const nest = (n) => '['.repeat(n) + ']'.repeat(n);
  s.send(`{"type":"publish","channel":"deep","data":${nest(100)},"requestId":"deep-ok"}`);
  const ok = await s.waitFrame((f) => f.requestId === 'deep-ok' || f.type === 'error');
  assert.deepEqual(ok, { type: 'ack', requestId: 'deep-ok' });
  s.send(`{"type":"publish","channel":"deep","data":${nest(200)},"requestId":"deep-bad"}`);
  const e = await s.waitFrame((f) => f.type === 'error');
  assert.equal(e.code, 'malformed_message');
  if (Object.hasOwn(e, 'requestId')) assert.equal(e.requestId, 'deep-bad');
  s.send(nest(10000));
  const e2 = await s.waitFrame((f) => f.type === 'error');
  assert.equal(e2.code, 'malformed_message');
  await stillOpen(s);
  s.close();
});

test('unknown_type with and without requestId (raw)', async () => {
  const s = await rawConnect(srv);
  const a = await rawRequest(s, { type: 'bogus', requestId: 'ut-1' });
  assert.equal(a.type, 'error');
  assert.equal(a.code, 'unknown_type');
  assert.equal(a.requestId, 'ut-1');
  s.cursor = s.frames.length;
  for (const t of ['bogus', 'PING', 'Subscribe', 'welcome', 'ack', 'pong', '']) {
    s.send({ type: t });
    const e = await s.waitFrame((f) => f.type === 'error', { what: `unknown_type for '${t}'` });
    assert.equal(e.code, 'unknown_type', `type '${t}': ${JSON.stringify(e)}`);
    assert.ok(!Object.hasOwn(e, 'requestId'), 'no requestId when the frame had none');
  }
  await stillOpen(s);
  s.close();
});

test('SDK: uncorrelated unknown_type is swallowed; one with a stray requestId and malformed_message surface as server-error', async () => {
  const c = await connectClient(srv);
  const ws = c.sockets.at(-1);
  ws.send('{"type":"bogus-type"}');
  ws.send('{"type":"bogus-type","requestId":"stray-1"}');
  ws.send('this is not json');
  await c.rec.wait('server-error', (e) => e.code === 'malformed_message');
  const errs = c.rec.of('server-error');
  assert.deepEqual(errs.map((e) => [e.code, e.requestId]), [['unknown_type', 'stray-1'], ['malformed_message', undefined]],
    `server-error events: ${JSON.stringify(errs)}`);
  assert.equal(c.state, 'connected');
  await c.close();
});

test('invalid_channel: empty, too long, control characters, wrong type (subscribe, unsubscribe, publish)', async () => {
  const s = await rawConnect(srv);
  const bad = ['', 'x'.repeat(257), 'a\u0000b', 'tab\there', 'del\u007f', 'c1\u0085', 'nl\n', '\u009f'];
  for (const channel of bad) {
    for (const type of ['subscribe', 'unsubscribe', 'publish']) {
      const frame = { type, channel, ...(type === 'publish' ? { data: 1 } : {}) };
      await rawExpectError(s, frame, 'invalid_channel', `${type} ${JSON.stringify(channel)}`);
    }
  }
  for (const channel of [5, null, true, ['a'], { a: 1 }]) {
    await rawExpectError(s, { type: 'subscribe', channel }, 'invalid_channel', `subscribe channel=${JSON.stringify(channel)}`);
  }
  await rawExpectError(s, { type: 'subscribe' }, 'invalid_channel', 'subscribe without channel');
  // Length is counted in UTF-16 units like the SDK: 256 units OK, 257/258 not.
  for (const channel of ['x'.repeat(256), 'é'.repeat(256), '😀'.repeat(128), 'ü/ö:日本 #?&='] ) {
    const a = await rawRequest(s, { type: 'subscribe', channel });
    assert.equal(a.type, 'ack', `valid channel (${channel.length} units) must be accepted: ${JSON.stringify(a)}`);
  }
  await rawExpectError(s, { type: 'subscribe', channel: '😀'.repeat(128) + 'x' }, 'invalid_channel', '257 UTF-16 units');
  await stillOpen(s);
  s.close();
});

test('invalid_peer_id: send with a bad `to`', async () => {
  const s = await rawConnect(srv);
  for (const to of ['', 'p'.repeat(129), 'a\u0001b', 'x\u007f', 'y\u0085', 7, null, ['a'], { id: 'a' }]) {
    await rawExpectError(s, { type: 'send', to, data: 1 }, 'invalid_peer_id', `to=${JSON.stringify(to)}`);
  }
  await rawExpectError(s, { type: 'send', data: 1 }, 'invalid_peer_id', 'send without to');
  // 128 units is a valid id: not found, not invalid.
  await rawExpectError(s, { type: 'send', to: 'p'.repeat(128), data: 1 }, 'peer_not_found', '128-char to');
  await stillOpen(s);
  s.close();
});

test('missing_data: publish/send without data; data:null is a payload', async () => {
  const s = await rawConnect(srv);
  const t = await rawConnect(srv);
  const tId = t.frames[0].json.peerId;
  await rawExpectError(s, { type: 'publish', channel: 'md' }, 'missing_data');
  await rawExpectError(s, { type: 'send', to: tId }, 'missing_data');
  const a1 = await rawRequest(s, { type: 'publish', channel: 'md', data: null });
  assert.equal(a1.type, 'ack');
  const a2 = await rawRequest(s, { type: 'send', to: tId, data: null });
  assert.equal(a2.type, 'ack');
  const d = await t.waitFrame((f) => f.type === 'direct');
  assert.ok(Object.hasOwn(d, 'data') && d.data === null, `direct with data:null: ${JSON.stringify(d)}`);
  await stillOpen(s);
  s.close(); t.close();
});

test('channel_reserved: _metered/, _internal/, _system/ (case-insensitive) via the SDK', async () => {
  const c = await connectClient(srv);
  for (const ch of ['_metered/x', '_internal/y', '_system/z', '_METERED/x', '_Internal/abc', '_system/']) {
    await rejectsWith(c.subscribe(ch), 'channel_reserved', `subscribe ${ch}`);
    await rejectsWith(c.publish(ch, 1), 'channel_reserved', `publish ${ch}`);
  }
  // Lookalikes are fine.
  for (const ch of ['_metered', 'metered/x', '_meteredx/y', 'x/_system/y']) await c.subscribe(ch);
  assert.equal(c.state, 'connected');
  assert.equal(c.rec.count('disconnected'), 0);
  await c.close();
});

test('channel_not_authorized: JWT channels limit subscribe and publish; connection stays open', async () => {
  const c = await connectClient(srv, { token: mintToken({ sub: 'limited', channels: ['room-*', 'lobby'], ttl: 600 }) });
  await c.subscribe('room-1');
  await c.subscribe('lobby');
  await c.publish('room-2', 'ok');
  for (const ch of ['hall', 'room-1/sub', 'lobby2', 'Room-1', 'xroom-1']) {
    await rejectsWith(c.subscribe(ch), 'channel_not_authorized', `subscribe ${ch}`);
    await rejectsWith(c.publish(ch, 1), 'channel_not_authorized', `publish ${ch}`);
  }
  assert.equal(c.state, 'connected');
  assert.equal(c.rec.count('disconnected'), 0);
  await c.close();

  // '**' crosses '/'.
  const w = await connectClient(srv, { token: mintToken({ sub: 'wide', channels: ['**'], ttl: 600 }) });
  await w.subscribe('a/b/c');
  await w.close();
  const m = await connectClient(srv, { token: mintToken({ sub: 'mid', channels: ['org/*/chat'], ttl: 600 }) });
  await m.subscribe('org/x/chat');
  await rejectsWith(m.subscribe('org/x/y/chat'), 'channel_not_authorized', '* must not cross /');
  await m.close();
});

test('channel_not_authorized: a JWT without a channels claim may use no channel', async () => {
  // The CLI defaults --channels to '**', so sign this one in JS without the claim.
  const c = await connectClient(srv, { token: signJwt({ sub: 'nochan', exp: nowSec() + 600 }) });
  await rejectsWith(c.subscribe('anything'), 'channel_not_authorized', 'no channels claim');
  await rejectsWith(c.publish('anything', 1), 'channel_not_authorized', 'no channels claim (publish)');
  assert.equal(c.state, 'connected');
  await c.close();
});

test('action_not_permitted: JWT permissions', async () => {
  const ro = await connectClient(srv, { token: mintToken({ sub: 'ro', channels: ['**'], permissions: ['subscribe', 'presence'], ttl: 600 }) });
  const other = await connectClient(srv);
  await ro.subscribe('perm');
  await rejectsWith(ro.publish('perm', 1), 'action_not_permitted', 'publish without publish permission');
  await rejectsWith(ro.send(other.peerId, 1), 'action_not_permitted', 'send without send permission');
  const po = await connectClient(srv, { token: mintToken({ sub: 'po', channels: ['**'], permissions: ['publish'], ttl: 600 }) });
  await rejectsWith(po.subscribe('perm'), 'action_not_permitted', 'subscribe without subscribe permission');
  await po.publish('perm', 'allowed');
  await ro.rec.wait('message', (m) => m.data === 'allowed');
  const ps = await connectClient(srv, { token: mintToken({ sub: 'ps', channels: ['**'], permissions: ['subscribe', 'presence', 'publish'], ttl: 600 }) });
  await rejectsWith(ps.send(other.peerId, 1), 'action_not_permitted', 'send not in permissions');
  for (const c of [ro, po, ps]) assert.equal(c.state, 'connected');
  await Promise.all([ro, po, ps, other].map((c) => c.close()));
});

test('channel_limit_exceeded: the 101st subscription; room again after unsubscribing', async () => {
  const c = await connectClient(srv);
  for (let i = 0; i < 100; i++) await c.subscribe(`lim-${i}`);
  await rejectsWith(c.subscribe('lim-100'), 'channel_limit_exceeded', '101st subscribe');
  await c.unsubscribe('lim-0');
  await c.subscribe('lim-100');
  await rejectsWith(c.subscribe('lim-101'), 'channel_limit_exceeded', '101st after swap');
  assert.equal(c.state, 'connected');
  await c.close();
});

test('peer_not_found via the SDK rejects with err.name', async () => {
  const c = await connectClient(srv);
  await rejectsWith(c.send('ghost-peer', {}), 'peer_not_found', 'send to ghost');
  await c.close();
});

test('every request with a requestId gets exactly one answer echoing it', async () => {
  const s = await rawConnect(srv);
  const frames = [
    { type: 'subscribe', channel: 'one-ans', requestId: 'q1' },
    { type: 'unsubscribe', channel: 'one-ans', requestId: 'q2' },
    { type: 'unsubscribe', channel: 'never', requestId: 'q3' },
    { type: 'publish', channel: 'one-ans', data: 1, requestId: 'q4' },
    { type: 'send', to: 'ghost', data: 1, requestId: 'q5' },
    { type: 'subscribe', channel: '', requestId: 'q6' },
    { type: 'nope', requestId: 'q7' },
    { type: 'publish', channel: 'x', requestId: 'q8' },
  ];
  for (const f of frames) s.send(f);
  await s.waitFrame((f) => f.requestId === 'q8');
  s.send({ type: 'ping' });
  await s.waitFrame((f) => f.type === 'pong');
  const answers = s.json().filter((f) => f.type === 'ack' || f.type === 'error');
  assert.deepEqual(answers.map((f) => f.requestId), ['q1', 'q2', 'q3', 'q4', 'q5', 'q6', 'q7', 'q8'], 'one answer each, FIFO');
  assert.deepEqual(answers.map((f) => f.type === 'ack' ? 'ack' : f.code),
    ['ack', 'ack', 'ack', 'ack', 'peer_not_found', 'invalid_channel', 'unknown_type', 'missing_data']);
  s.close();
});
