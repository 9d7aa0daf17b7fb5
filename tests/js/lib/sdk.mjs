// Helpers for driving the real @metered-ca/realtime SDK and raw `ws`
// sockets against a metered-server from Node tests.
//
// NODE_PATH does not apply to ESM `import`, so the npm packages are loaded
// with createRequire from the directories listed in NODE_PATH.

import { createRequire } from 'node:module';
import crypto from 'node:crypto';
import path from 'node:path';
import { waitFor, DEV_KEY, DEV_SECRET, DEV_KID } from './server.mjs';

const localRequire = createRequire(import.meta.url);

// Everything made here is tracked so a test file's after() hook can tear it
// all down (an open client with a reconnect timer keeps Node alive).
const tracked = new Set();

/** Close every client, peer and raw socket created through this module. */
export async function cleanupAll() {
  const items = [...tracked];
  tracked.clear();
  await Promise.all(items.map(async (x) => {
    try {
      if (x instanceof RawSocket) x.terminate();
      else await withTimeout(Promise.resolve(x.close()), 3000, 'close');
    } catch { /* ignore */ }
  }));
}

export function requirePkg(name) {
  const dirs = (process.env.NODE_PATH || '').split(path.delimiter).filter(Boolean);
  const errors = [];
  for (const d of dirs) {
    try {
      return createRequire(path.join(d, '__resolver__.cjs'))(name);
    } catch (e) {
      errors.push(`${d}: ${e.message.split('\n')[0]}`);
    }
  }
  try {
    return localRequire(name);
  } catch (e) {
    throw new Error(`cannot load npm package '${name}' (NODE_PATH=${process.env.NODE_PATH || ''}): ` +
      `${errors.join('; ')}; ${e.message.split('\n')[0]}`);
  }
}

export const SDK = requirePkg('@metered-ca/realtime');
export const WebSocket = requirePkg('ws');
export const { SignallingClient, MeteredPeer } = SDK;

/** Reconnect options for tests where the delay is not what is checked. */
export const FAST_RECONNECT = { initialDelayMs: 50, multiplier: 2, maxDelayMs: 400, jitterRatio: 0.2, maxAttempts: 200 };

const CLIENT_EVENTS = ['connected', 'disconnected', 'state-change', 'message', 'direct', 'presence',
  'server-error', 'going-away', 'token-provider-error'];

/**
 * Record every event of an emitter. rec.events: [{name, t, p}].
 */
export function record(emitter, names = CLIENT_EVENTS) {
  const rec = {
    events: [],
    of(name, pred = () => true) { return this.events.filter((e) => e.name === name && pred(e.p)).map((e) => e.p); },
    count(name, pred) { return this.of(name, pred).length; },
    async wait(name, pred = () => true, { timeoutMs = 10000, after = 0 } = {}) {
      const ev = await waitFor(() => this.events.slice(after).find((e) => e.name === name && pred(e.p)),
        { timeoutMs, what: `event '${name}'` });
      return ev.p;
    },
    mark() { return this.events.length; },
  };
  for (const n of names) emitter.on(n, (p) => rec.events.push({ name: n, t: Date.now(), p }));
  return rec;
}

/**
 * Build an SDK SignallingClient for `srv`.
 *   key (default pk_dev_local) or token (fixed JWT) or tokenProvider.
 *   reconnect: ReconnectOptions | false (default FAST_RECONNECT).
 *   wsOptions: options for the `ws` constructor (e.g. {origin}).
 * Returns the client with `.rec` (event recorder) and `.sockets` (every
 * ws the factory made, newest last).
 */
export function makeClient(srv, { key, token, tokenProvider, reconnect = FAST_RECONNECT, wsOptions, url, ...rest } = {}) {
  const sockets = [];
  const opts = {
    url: url ?? srv.url,
    reconnect,
    webSocketFactory: (u) => {
      const ws = new WebSocket(u, wsOptions ?? {});
      ws.on('error', () => { /* surfaced as close */ });
      sockets.push(ws);
      return ws;
    },
    ...rest,
  };
  if (tokenProvider) opts.tokenProvider = tokenProvider;
  else if (token) opts.tokenProvider = async () => token;
  else opts.apiKey = key ?? DEV_KEY;
  const client = new SignallingClient(opts);
  tracked.add(client);
  client.rec = record(client);
  client.sockets = sockets;
  client.peerId = null;
  client.on('connected', (e) => { client.peerId = e.peerId; });
  return client;
}

/** makeClient + connect(); resolves to the client once `connected`. */
export async function connectClient(srv, opts = {}) {
  const c = makeClient(srv, opts);
  await withTimeout(c.connect(), 12000, 'SignallingClient.connect()');
  return c;
}

export async function closeAll(...clients) {
  await Promise.all(clients.flat().filter(Boolean).map(async (c) => {
    try { await withTimeout(c.close(), 5000, 'close'); } catch { /* already closed */ }
  }));
}

export function withTimeout(promise, ms, what = 'operation') {
  let t;
  return Promise.race([
    Promise.resolve(promise).finally(() => clearTimeout(t)),
    new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`${what} did not settle within ${ms} ms`)), ms); }),
  ]);
}

/** Resolve to the rejection reason of `promise` (fails if it resolves). */
export async function rejection(promise, ms = 16000) {
  try {
    await withTimeout(promise, ms, 'promise');
  } catch (e) {
    return e;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/** A minimal RTCPeerConnection stand-in for data-only MeteredPeer tests in Node. */
export class FakePC extends EventTarget {
  constructor(config) {
    super();
    this.config = config;
    this.connectionState = 'new';
    this.iceConnectionState = 'new';
    this.signalingState = 'stable';
    this.localDescription = null;
    this.remoteDescription = null;
  }
  close() { this.connectionState = 'closed'; this.signalingState = 'closed'; }
  setConfiguration(c) { this.config = c; }
  getSenders() { return []; }
  getReceivers() { return []; }
  getTransceivers() { return []; }
  addTrack() { throw new Error('FakePC: no media in Node tests'); }
  async createOffer() { return { type: 'offer', sdp: 'v=0\r\n' }; }
  async createAnswer() { return { type: 'answer', sdp: 'v=0\r\n' }; }
  async setLocalDescription(d) { this.localDescription = d; }
  async setRemoteDescription(d) { this.remoteDescription = d; }
  async addIceCandidate() {}
  createDataChannel() { throw new Error('FakePC: no data channels'); }
}

export function makePeer(srv, { key, token, tokenProvider, reconnect = FAST_RECONNECT, ...rest } = {}) {
  const sockets = [];
  const opts = {
    url: srv.url,
    reconnect,
    webSocketFactory: (u) => {
      const ws = new WebSocket(u);
      ws.on('error', () => {});
      sockets.push(ws);
      return ws;
    },
    rtcPeerConnectionFactory: (cfg) => new FakePC(cfg),
    ...rest,
  };
  if (tokenProvider) opts.tokenProvider = tokenProvider;
  else if (token) opts.tokenProvider = async () => token;
  else opts.apiKey = key ?? DEV_KEY;
  const peer = new MeteredPeer(opts);
  tracked.add(peer);
  peer.rec = record(peer, ['joined', 'left', 'state-change', 'peer-joined', 'peer-left', 'data', 'error']);
  peer.sockets = sockets;
  return peer;
}

// ---------------------------------------------------------------------------
// JWT signing in JS (for credentials the CLI will not mint: alg none, bad
// signature, nbf in the future, no kid, ...).

export function b64url(x) {
  return Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
}

export function signJwt(claims, { secret = DEV_SECRET, kid = DEV_KID, alg = 'HS256', header } = {}) {
  const h = header ?? { alg, typ: 'JWT', ...(kid !== null ? { kid } : {}) };
  const input = `${b64url(h)}.${b64url(claims)}`;
  if (alg === 'none') return `${input}.`;
  const sig = crypto.createHmac('sha256', secret).update(input).digest('base64url');
  return `${input}.${sig}`;
}

export function nowSec() { return Math.floor(Date.now() / 1000); }

// ---------------------------------------------------------------------------
// Raw WebSocket access.

/**
 * Open a raw `ws` socket to /v1. Resolves once the handshake is settled:
 *   {ok: true, sock: RawSocket} or {ok: false, status, body, headers}.
 * query: string appended after '?' (default key=pk_dev_local), or use
 * key/token. wsOptions: passed to `ws` (headers, origin, ...).
 */
export function rawHandshake(srv, { key, token, query, path: p = '/v1', wsOptions = {}, timeoutMs = 10000 } = {}) {
  let q = query;
  if (q === undefined) q = token !== undefined ? `token=${encodeURIComponent(token)}` : `key=${encodeURIComponent(key ?? DEV_KEY)}`;
  const url = `${srv.url}${p}${q ? '?' + q : ''}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { maxPayload: 16 * 1024 * 1024, ...wsOptions });
    const sock = new RawSocket(ws);
    const timer = setTimeout(() => { ws.terminate(); reject(new Error(`raw handshake to ${url} timed out`)); }, timeoutMs);
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => { clearTimeout(timer); req.destroy(); resolve({ ok: false, status: res.statusCode, body, headers: res.headers }); });
      res.on('error', () => { clearTimeout(timer); resolve({ ok: false, status: res.statusCode, body, headers: res.headers }); });
    });
    ws.on('open', () => { clearTimeout(timer); resolve({ ok: true, sock }); });
    ws.on('error', (e) => { clearTimeout(timer); if (ws.readyState !== WebSocket.OPEN) reject(e); });
  });
}

/** rawHandshake that must succeed; also waits for the welcome frame (unless welcome:false). */
export async function rawConnect(srv, opts = {}) {
  const r = await rawHandshake(srv, opts);
  if (!r.ok) throw new Error(`raw handshake refused: HTTP ${r.status} ${r.body}`);
  if (opts.welcome !== false) await r.sock.waitFrame((f) => f.type === 'welcome', { what: 'welcome' });
  return r.sock;
}

export class RawSocket {
  constructor(ws) {
    tracked.add(this);
    this.ws = ws;
    this.frames = []; // {text, json, t, binary}
    this.cursor = 0;
    this.closeInfo = null;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString(), t: Date.now() };
        resolve(this.closeInfo);
      });
    });
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? null : data.toString('utf8');
      let json;
      if (text !== null) { try { json = JSON.parse(text); } catch { json = undefined; } }
      this.frames.push({ text, json, binary: isBinary, t: performance.now() });
    });
    ws.on('error', () => {});
  }
  get open() { return this.ws.readyState === WebSocket.OPEN; }
  send(x) { this.ws.send(typeof x === 'string' || Buffer.isBuffer(x) ? x : JSON.stringify(x)); }
  sendText(buf) { this.ws.send(buf, { binary: false }); }
  sendBinary(buf) { this.ws.send(buf, { binary: true }); }
  /** JSON frames received so far (optionally only from index `from`). */
  json(from = 0) { return this.frames.slice(from).map((f) => f.json).filter((j) => j !== undefined); }
  /**
   * Wait for the first frame at/after the cursor whose JSON matches pred;
   * advance the cursor past it; resolve to the JSON (f.json) — the raw frame
   * is attached as the non-enumerable `__frame`.
   */
  async waitFrame(pred, { timeoutMs = 10000, what = 'frame', advance = true } = {}) {
    const idx = await waitFor(() => {
      for (let i = this.cursor; i < this.frames.length; i++) {
        const f = this.frames[i];
        if (f.json !== undefined && pred(f.json, f)) return i + 1;
      }
      if (this.closeInfo) throw new Error(`socket closed (${this.closeInfo.code} ${this.closeInfo.reason}) while waiting for ${what}`);
      return 0;
    }, { timeoutMs, what });
    const f = this.frames[idx - 1];
    if (advance) this.cursor = idx;
    Object.defineProperty(f.json, '__frame', { value: f, enumerable: false });
    return f.json;
  }
  async waitClose({ timeoutMs = 10000 } = {}) {
    return withTimeout(this.closed, timeoutMs, 'raw socket close');
  }
  close(code = 1000) { try { this.ws.close(code); } catch { this.ws.terminate(); } }
  terminate() { this.ws.terminate(); }
}

/** Send a request over a raw socket and wait for the ack/error with its requestId. */
export async function rawRequest(sock, frame, opts = {}) {
  const requestId = frame.requestId ?? `r-${crypto.randomUUID()}`;
  sock.send({ ...frame, requestId });
  return sock.waitFrame((f) => (f.type === 'ack' || f.type === 'error') && f.requestId === requestId,
    { what: `answer to ${frame.type} ${requestId}`, advance: false, ...opts });
}

export { waitFor };
