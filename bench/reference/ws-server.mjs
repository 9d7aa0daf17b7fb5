// gst-metered — LGPL-2.1-or-later
//
// The reference of bench/server-load.sh: the subset of the Metered wire
// protocol the bench uses (welcome, subscribe + ack + presence snapshot,
// joined/left, publish fan-out without echo, send, ping), written on Node's
// `ws` the way a competent user would in an afternoon. No limits, no auth
// beyond the dev key. Loopback only.
//
//   node bench/reference/ws-server.mjs PORT   (needs `ws`: NODE_PATH)
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';
const { WebSocketServer } = createRequire(import.meta.url)('ws');

const port = Number(process.argv[2] || 8090);
const channels = new Map(); // channel -> Set of ws (visible members)
const peers = new Map(); // peerId -> ws
const wss = new WebSocketServer({ host: '127.0.0.1', port, path: '/v1', maxPayload: 65536 });

wss.on('connection', (ws, req) => {
  if (new URL(req.url, 'http://x').searchParams.get('key') !== 'pk_dev_local') return ws.close(4001, 'invalid key');
  ws.peerId = randomUUID();
  ws.subs = new Set();
  peers.set(ws.peerId, ws);
  ws.send(JSON.stringify({ type: 'welcome', peerId: ws.peerId, expiresAt: null,
    serverTime: Math.floor(Date.now() / 1000), maxMessageSize: 65536 }));
  const reply = (m, requestId) => requestId && ws.send(JSON.stringify({ ...m, requestId }));
  ws.on('message', (raw) => {
    let m;
    try { m = JSON.parse(raw); } catch { return ws.send('{"type":"error","code":"malformed_message"}'); }
    if (m.type === 'ping') return ws.send('{"type":"pong"}');
    if (m.type === 'subscribe') {
      reply({ type: 'ack' }, m.requestId);
      if (ws.subs.has(m.channel)) return;
      ws.subs.add(m.channel);
      // The snapshot in a later write than the ack (the SDK needs the gap).
      setTimeout(() => {
        const members = channels.get(m.channel) ?? new Set();
        ws.send(JSON.stringify({ type: 'presence', channel: m.channel,
          joined: [...members].map((o) => ({ peerId: o.peerId })), left: [] }));
        const joined = JSON.stringify({ type: 'presence', channel: m.channel, joined: [{ peerId: ws.peerId }], left: [] });
        for (const o of members) o.send(joined);
        members.add(ws);
        channels.set(m.channel, members);
      }, 20);
    } else if (m.type === 'publish') {
      const text = JSON.stringify({ type: 'message', channel: m.channel, from: ws.peerId, data: m.data });
      for (const o of channels.get(m.channel) ?? []) if (o !== ws) o.send(text);
      reply({ type: 'ack' }, m.requestId);
    } else if (m.type === 'send') {
      const to = peers.get(m.to);
      if (!to) return reply({ type: 'error', code: 'peer_not_found' }, m.requestId);
      to.send(JSON.stringify({ type: 'direct', from: ws.peerId, data: m.data }));
      reply({ type: 'ack' }, m.requestId);
    } else {
      reply({ type: 'error', code: 'unknown_type' }, m.requestId);
    }
  });
  ws.on('close', () => {
    peers.delete(ws.peerId);
    for (const ch of ws.subs) {
      const members = channels.get(ch);
      if (!members?.delete(ws)) continue;
      const left = JSON.stringify({ type: 'presence', channel: ch, joined: [], left: [{ peerId: ws.peerId }] });
      for (const o of members) o.send(left);
    }
  });
});
wss.on('listening', () => console.log(`reference listening on ws://127.0.0.1:${port}/v1`));
