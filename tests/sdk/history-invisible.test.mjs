// Channel history (issue 17) is an extension the real SDK never sees: on a
// channel where another client asked for history and got stamped messages,
// a replay and a history answer, the SDK's socket carries byte for byte the
// frames it carried before the extension, and the SDK never sends it.
// Spec: docs/protocol.md "Channel history and resume"; protocol §3, §4.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../js/lib/server.mjs';
import {
  WebSocket, makeClient, rawConnect, rawRequest, cleanupAll, withTimeout, waitFor,
} from '../js/lib/sdk.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await cleanupAll(); if (srv) await srv.stop(); });

// An SDK client whose socket records every text frame both ways.
async function recordingClient() {
  const wire = { in: [], out: [] };
  const c = makeClient(srv, {
    webSocketFactory: (u) => {
      const ws = new WebSocket(u);
      ws.on('error', () => {});
      ws.on('message', (d, bin) => { if (!bin) wire.in.push(d.toString('utf8')); });
      const send = ws.send.bind(ws);
      ws.send = (data, ...rest) => { wire.out.push(String(data)); return send(data, ...rest); };
      return ws;
    },
  });
  await withTimeout(c.connect(), 12000, 'connect');
  c.wire = wire;
  return c;
}

test('an SDK subscriber sees the frames it always saw while a history client resumes on its channel', async () => {
  const S = await recordingClient();
  await S.subscribe('hist');

  // A client of the extension: fresh start, then a resume with a replay.
  let R = await rawConnect(srv);
  await rawRequest(R, { type: 'subscribe', channel: 'hist', history: {} });
  const started = await R.waitFrame((f) => f.type === 'history', { what: 'history started' });
  assert.equal(started.status, 'started');

  const P = await recordingClient();
  const payloads = [{ i: 0 }, 'two', null, [3], { nested: { k: true } }];
  await P.publish('hist', payloads[0]);
  const first = await R.waitFrame((f) => f.type === 'message', { what: 'stamped message' });
  assert.equal(first.epoch, started.epoch);
  assert.equal(first.seq, started.seq + 1);
  R.close();
  for (const p of payloads.slice(1)) await P.publish('hist', p);

  R = await rawConnect(srv);
  await rawRequest(R, { type: 'subscribe', channel: 'hist', history: { epoch: first.epoch, seq: first.seq } });
  const resumed = await R.waitFrame((f) => f.type === 'history', { what: 'history resumed' });
  assert.equal(resumed.status, 'resumed');
  assert.equal(resumed.replayed, payloads.length - 1);
  assert.deepEqual(R.json().filter((f) => f.type === 'message').map((f) => f.data), payloads.slice(1));

  await waitFor(() => S.rec.count('message') >= payloads.length, { what: 'messages at the SDK' });
  await P.publish('hist', 'after');
  await waitFor(() => S.rec.count('message') > payloads.length, { what: 'live message at the SDK' });

  const expected = [...payloads, 'after'].map((d) =>
    `{"type":"message","channel":"hist","from":${JSON.stringify(P.peerId)},"data":${JSON.stringify(d)}}`);
  const got = S.wire.in.filter((t) => JSON.parse(t).type === 'message');
  assert.deepEqual(got, expected, 'message frames byte for byte as before the extension');
  const types = new Set(S.wire.in.map((t) => JSON.parse(t).type));
  assert.deepEqual([...types].sort(), ['ack', 'message', 'presence', 'welcome'], 'no frame type the SDK does not know');
  for (const t of S.wire.in) {
    const f = JSON.parse(t);
    assert.ok(!('epoch' in f) && !('seq' in f), `no history stamp: ${t}`);
  }
  for (const t of [...S.wire.out, ...P.wire.out]) {
    assert.ok(!('history' in JSON.parse(t)), `the SDK never asks: ${t}`);
  }
  R.close();
  await Promise.all([S.close(), P.close()]);
});
