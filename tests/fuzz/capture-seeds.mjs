// gst-metered — LGPL-2.1-or-later
//
// Regenerates the seed corpora of fuzz-hub, fuzz-client-frame and
// fuzz-server-frame from a real transcript: the real SDK's
// SignallingClient against a real metered-server, every frame sent and
// received recorded on the wire. The peer ids of the transcript are
// renamed to the fuzz-hub members (alice, bob, carol, dave).
//
//   METERED_SERVER=build/src/server/metered-server NODE_PATH=build/js/node_modules \
//     node tests/fuzz/capture-seeds.mjs [chromium.json]
//
// chromium.json (optional, from capture-chromium-sdp.cjs): real Chromium
// SDP and candidates, carried as rtc payloads in the transcript.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, sleep } from '../js/lib/server.mjs';
import { connectClient, WebSocket, cleanupAll } from '../js/lib/sdk.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const corpus = (t) => path.join(here, 'corpus', t);
const chromium = process.argv[2] ? JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) : null;

const sent = []; // [socket, text]
const received = [];
const origSend = WebSocket.prototype.send;
WebSocket.prototype.send = function (data, ...rest) {
  sent.push([this, String(data)]);
  return origSend.call(this, data, ...rest);
};

const srv = await startServer();
const names = ['alice', 'bob'];
const clients = [];
for (let i = 0; i < 2; i++) {
  const c = await connectClient(srv);
  c.sockets[0].on('message', (d) => received.push([i, String(d)]));
  clients.push(c);
}
const [a, b] = clients;
await a.subscribe('room-1', { includeSenderMetadata: true });
await b.subscribe('room-1');
await sleep(200);
await a.publish('room-1', { hello: 'world', n: 1 });
await b.publish('room-1', 'plain text');
await b.send(a.peerId, { __meteredTrackMeta: { trackId: '41fe230b-bcdc-455a-9098-679727f5c9e2', metadata: { role: 'camera' } } });
if (chromium) {
  await b.send(a.peerId, { type: 'rtc-description', description: { type: 'offer', sdp: chromium.offer } });
  for (const c of chromium.cands.slice(0, 4)) await b.send(a.peerId, { type: 'rtc-ice', candidate: c });
  await b.send(a.peerId, { type: 'rtc-ice', candidate: null });
  await a.send(b.peerId, { type: 'rtc-description', description: { type: 'answer', sdp: chromium.answer } });
}
await a.unsubscribe('room-1');
await sleep(300);
await cleanupAll();
await srv.stop?.();

const rename = (t) => t.split(a.peerId).join('alice').split(b.peerId).join('bob');
const socketOf = (ws) => clients.findIndex((c) => c.sockets.includes(ws));
const lines = sent.filter(([ws]) => socketOf(ws) >= 0)
  .map(([ws, t]) => 'ab'[socketOf(ws)] + rename(t));
fs.mkdirSync(corpus('fuzz-hub'), { recursive: true });
fs.writeFileSync(path.join(corpus('fuzz-hub'), 'sdk-transcript.txt'), ['t', ...lines, 't'].join('\n'));
// Each client frame alone, and each server frame alone, as seeds of the
// frame parsers.
const seen = new Set();
for (const [dir, list] of [['fuzz-client-frame', sent.map(([, t]) => t)], ['fuzz-server-frame', received.map(([, t]) => t)]]) {
  for (const t of list) {
    const type = JSON.parse(t).type;
    if (seen.has(dir + type)) continue;
    seen.add(dir + type);
    fs.writeFileSync(path.join(corpus(dir), `sdk-${type}.json`), rename(t));
  }
}
console.log(`captured ${lines.length} client frames, ${received.length} server frames`);
process.exit(0);
