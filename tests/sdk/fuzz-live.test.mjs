// Live fuzz: ≥ 5,000 malformed or odd frames against a running metered-server
// over raw `ws` sockets, each answer checked against a reference classifier
// built from the protocol doc (§2, §4, §6.2, §10.3, §10.14-§10.15) and
// docs/metered-server.md (Limits), while two well-behaved SDK clients keep
// publishing and receiving on the same server.
//
// Every fuzz frame is followed by a sentinel {"type":"zz_sentinel","requestId":S}
// (answered with unknown_type + S); since a connection's frames are handled
// FIFO, the answers between two sentinel answers belong to the fuzz frame
// between them. Sockets are paced (≤ 80 frames/s each) to stay under the
// 100/s rate limit. Set FUZZ_SEED to reproduce a run.

import { test, before, after } from 'node:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { startServer, mintToken, metrics, sleep } from '../js/lib/server.mjs';
import { connectClient, rawHandshake, rawConnect, cleanupAll, waitFor } from '../js/lib/sdk.mjs';

const SEED = Number(process.env.FUZZ_SEED || (Date.now() % 2 ** 31));
const TARGET = Number(process.env.FUZZ_COUNT || 5200);
const WORKERS = 8;
const BATCH = 20; // fuzz frames per batch (plus as many sentinels)
const BATCH_MS = 500; // → ≤ 80 frames/s per socket

// ---------------------------------------------------------------- PRNG
function mulberry32(a) {
  return () => {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rnd = mulberry32(SEED);
const ri = (n) => Math.floor(rnd() * n);
const pick = (a) => a[ri(a.length)];

// ------------------------------------------------- reference classifier
const KNOWN = new Set(['malformed_message', 'unknown_type', 'invalid_channel', 'invalid_peer_id', 'channel_not_authorized',
  'channel_reserved', 'channel_limit_exceeded', 'peer_not_found', 'missing_data', 'action_not_permitted', 'over_message_quota']);
const CTRL = /[\u0000-\u001f\u007f-\u009f]/;
const RESERVED = /^(_metered|_internal|_system)\//i;

function maxDepth(text) {
  let d = 0; let m = 0; let inStr = false; let esc = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inStr) {
      if (esc) esc = false; else if (c === 92) esc = true; else if (c === 34) inStr = false;
    } else if (c === 34) inStr = true;
    else if (c === 91 || c === 123) { d++; if (d > m) m = d; } else if (c === 93 || c === 125) d--;
  }
  return m;
}

function chanErr(ch) {
  if (typeof ch !== 'string') return ['invalid_channel', 'malformed_message'];
  if (ch.length === 0 || ch.length > 256 || CTRL.test(ch)) return ['invalid_channel'];
  if (RESERVED.test(ch)) return ['channel_reserved'];
  return [];
}
function peerErr(to) {
  if (typeof to !== 'string') return ['invalid_peer_id', 'malformed_message'];
  if (to.length === 0 || to.length > 128 || CTRL.test(to)) return ['invalid_peer_id'];
  return [];
}

/**
 * Expected answer for a text frame:
 *   {answer:'error', codes:[...], rid:'none'|'echo'|'optional', id}
 *   {answer:'ack', id, alsoCodes:[...]}   (ack, or one of alsoCodes)
 *   {answer:'silent'}                     (no ack/error)
 *   {answer:'pong'}
 *   {answer:'loose', why}                 (any known error / ack / nothing; must not close)
 * `fatal` expectations are handled separately.
 */
function classify(text) {
  let v;
  try { v = JSON.parse(text); } catch { return { answer: 'error', codes: ['malformed_message'], rid: 'none' }; }
  if (/\\u[dD][89a-fA-F]/.test(text) || /\d[eE][+-]?\d{3,}/.test(text)) return { answer: 'loose', why: 'surrogate escape / huge exponent' };
  const deep = maxDepth(text) > 128;
  const isObj = v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isObj) return { answer: 'error', codes: ['malformed_message'], rid: 'none' };
  const hasRid = Object.hasOwn(v, 'requestId');
  const ridValid = hasRid && typeof v.requestId === 'string' && v.requestId.length > 0 && v.requestId.length <= 128 && !CTRL.test(v.requestId);
  if (deep || typeof v.type !== 'string') {
    return { answer: 'error', codes: ['malformed_message'], rid: ridValid ? 'optional' : 'none', id: v.requestId };
  }
  if (hasRid && !ridValid) return { answer: 'loose', why: 'invalid requestId' };
  let errs; let okAlso = [];
  switch (v.type) {
    case 'subscribe':
      errs = chanErr(v.channel);
      okAlso = ['channel_limit_exceeded'];
      if (Object.hasOwn(v, 'includeSenderMetadata') && typeof v.includeSenderMetadata !== 'boolean') {
        return { answer: 'loose', why: 'includeSenderMetadata of the wrong type' };
      }
      break;
    case 'unsubscribe':
      errs = chanErr(v.channel);
      if (errs[0] === 'channel_reserved') return { answer: errs.length && hasRid ? 'ack' : 'silent', id: v.requestId, alsoCodes: ['channel_reserved'], ridValid };
      break;
    case 'publish':
      errs = [...chanErr(v.channel), ...(Object.hasOwn(v, 'data') ? [] : ['missing_data'])];
      break;
    case 'send':
      errs = [...peerErr(v.to), ...(Object.hasOwn(v, 'data') ? [] : ['missing_data'])];
      // Our targets never exist; with a valid `to` and no data either check may come first.
      if (!peerErr(v.to).length) errs.push('peer_not_found');
      break;
    case 'ping':
      return { answer: 'pong' };
    default:
      return { answer: 'error', codes: ['unknown_type'], rid: ridValid ? 'echo' : 'none', id: v.requestId };
  }
  if (errs.length) return { answer: 'error', codes: errs, rid: ridValid ? 'echo' : 'none', id: v.requestId };
  if (!ridValid) return { answer: 'silent', alsoCodes: okAlso };
  return { answer: 'ack', id: v.requestId, alsoCodes: okAlso };
}

/** Check the answers (ack/error/pong frames) a fuzz frame got; return null or a failure string. */
function check(exp, answers) {
  const ae = answers.filter((f) => f.type === 'ack' || f.type === 'error');
  const other = answers.filter((f) => f.type !== 'ack' && f.type !== 'error' && f.type !== 'pong');
  if (other.length) return `unexpected frame(s) ${JSON.stringify(other).slice(0, 200)}`;
  for (const f of ae) {
    if (f.type === 'error' && !KNOWN.has(f.code)) return `unknown error code ${JSON.stringify(f)}`;
    if (f.type === 'error' && typeof f.code !== 'string') return `error without code ${JSON.stringify(f)}`;
  }
  const pongs = answers.filter((f) => f.type === 'pong').length;
  if (exp.answer !== 'pong' && exp.answer !== 'loose' && pongs) return `unexpected pong`;
  switch (exp.answer) {
    case 'pong':
      if (pongs !== 1) return `expected one pong, got ${JSON.stringify(answers)}`;
      return null;
    case 'loose':
      if (ae.length > 1) return `more than one answer ${JSON.stringify(ae)}`;
      return null;
    case 'silent':
      if (ae.length === 0) return null;
      if (ae.length === 1 && ae[0].type === 'error' && (exp.alsoCodes || []).includes(ae[0].code) && !Object.hasOwn(ae[0], 'requestId')) return null;
      return `expected no ack/error (no requestId), got ${JSON.stringify(ae)}`;
    case 'ack': {
      if (ae.length !== 1) return `expected exactly one answer for ${exp.id}, got ${JSON.stringify(ae)}`;
      const a = ae[0];
      if (a.requestId !== exp.id) return `answer does not echo requestId ${JSON.stringify(exp.id)}: ${JSON.stringify(a)}`;
      if (a.type === 'ack') return null;
      if ((exp.alsoCodes || []).includes(a.code)) return null;
      return `expected ack, got ${JSON.stringify(a)}`;
    }
    case 'error': {
      if (ae.length !== 1) return `expected exactly one error (${exp.codes}), got ${JSON.stringify(ae)}`;
      const a = ae[0];
      if (a.type !== 'error') return `expected error ${exp.codes}, got ${JSON.stringify(a)}`;
      if (!exp.codes.includes(a.code)) return `expected ${exp.codes.join('|')}, got ${a.code}`;
      if (exp.rid === 'none' && Object.hasOwn(a, 'requestId')) return `error must carry no requestId: ${JSON.stringify(a)}`;
      if (exp.rid === 'echo' && a.requestId !== exp.id) return `error must echo requestId ${JSON.stringify(exp.id)}: ${JSON.stringify(a)}`;
      if (exp.rid === 'optional' && Object.hasOwn(a, 'requestId') && a.requestId !== exp.id) return `wrong requestId ${JSON.stringify(a)}`;
      return null;
    }
    default:
      return `bad expectation ${exp.answer}`;
  }
}

// ------------------------------------------------------------ corpus
const VALUES = [0, -1, 1.5, 1e308, true, false, null, [], [1, 'a'], {}, { a: 1 }, '', 'x'.repeat(300), '\u0001', 'a\u007fb',
  '\u0085', '😀', '_metered/x', 'fz-chan', 'ü'.repeat(200)];
const FIELDS = ['type', 'channel', 'requestId', 'includeSenderMetadata', 'data', 'to'];
const BASE = {
  subscribe: () => ({ type: 'subscribe', channel: `fz-${ri(50)}` }),
  unsubscribe: () => ({ type: 'unsubscribe', channel: `fz-${ri(50)}` }),
  publish: () => ({ type: 'publish', channel: `fz-${ri(50)}`, data: { n: ri(1000) } }),
  send: () => ({ type: 'send', to: `fz-nobody-${ri(1000)}`, data: 'x' }),
  ping: () => ({ type: 'ping' }),
  bogus: () => ({ type: 'fz_unknown' }),
};
let ridN = 0;
const rid = () => `fz-${++ridN}`;

function withRid(obj) { return { ...obj, requestId: rid() }; }
const ALPHA = '{}[]":,. \t\n0123456789abcdeftnrsulpyhbcq-_/\\éü😀\u0000\u0001\u001f\u007f\u2028';

function randomText() {
  const n = 1 + ri(120);
  let s = '';
  for (let i = 0; i < n; i++) {
    const r = rnd();
    if (r < 0.6) s += pick([...ALPHA]);
    else if (r < 0.9) s += String.fromCharCode(32 + ri(95));
    else s += String.fromCodePoint(0xa0 + ri(0x2fff));
  }
  return s;
}

function mutate(text) {
  const ops = ri(3) + 1;
  let s = text;
  for (let k = 0; k < ops; k++) {
    const p = ri(s.length + 1);
    switch (ri(5)) {
      case 0: s = s.slice(0, p) + s.slice(p + 1); break; // delete
      case 1: s = s.slice(0, p) + pick([...'{}[]":,0a\\ ']) + s.slice(p); break; // insert
      case 2: s = s.slice(0, p); break; // truncate
      case 3: s = s.slice(0, p) + s.slice(p).replace(/"/, ''); break; // drop a quote
      default: s = s.slice(0, p) + pick(['null', 'true', '[]', '{}', '"', '1e5', '-']) + s.slice(p);
    }
  }
  return s;
}

function buildCorpus() {
  const items = [];
  const add = (text, cat) => items.push({ text, cat, exp: classify(text) });

  // 1. Wrong types for every field of every frame type (with and without requestId).
  for (const [type, mk] of Object.entries(BASE)) {
    for (const f of FIELDS) {
      for (const val of VALUES) {
        const o = withRid(mk());
        o[f] = val;
        add(JSON.stringify(o), `wrong-type:${type}.${f}`);
        if (f !== 'requestId' && ri(3) === 0) {
          const p = mk(); p[f] = val;
          add(JSON.stringify(p), `wrong-type-norid:${type}.${f}`);
        }
      }
      // Field missing.
      const o = withRid(mk()); delete o[f];
      add(JSON.stringify(o), `missing:${type}.${f}`);
    }
  }
  // 2. Invalid JSON: structural damage of valid frames.
  const validFrames = () => JSON.stringify(withRid(pick(Object.values(BASE))()));
  for (let i = 0; i < 1400; i++) add(mutate(validFrames()), 'mutated');
  // 3. Random text.
  for (let i = 0; i < 1300; i++) add(randomText(), 'random-text');
  // 4. Control characters: raw inside strings (invalid JSON), escaped in fields.
  for (let i = 0; i < 200; i++) {
    const c = String.fromCharCode(pick([0, 1, 7, 8, 9, 10, 13, 27, 31]));
    add(`{"type":"publish","channel":"fz${c}x","data":1,"requestId":"${rid()}"}`, 'raw-control');
    add(JSON.stringify(withRid({ type: pick(['subscribe', 'publish', 'unsubscribe']), channel: `ab${c}cd`, data: 1 })), 'escaped-control-channel');
    add(JSON.stringify(withRid({ type: `sub${c}scribe` })), 'escaped-control-type');
  }
  // 5. Deep nesting.
  for (const n of [129, 130, 200, 500, 1000, 5000, 10000]) {
    add('['.repeat(n) + ']'.repeat(n), 'deep-array');
    add('{"a":'.repeat(n) + '1' + '}'.repeat(n), 'deep-object');
    add(`{"type":"publish","channel":"fz-deep","data":${'['.repeat(n)}${']'.repeat(n)},"requestId":"${rid()}"}`, 'deep-data');
    add('['.repeat(n), 'deep-unclosed');
  }
  for (const n of [120, 126]) add(`{"type":"publish","channel":"fz-deep","data":${'['.repeat(n)}${']'.repeat(n)},"requestId":"${rid()}"}`, 'deep-ok');
  // 6. Huge strings near (under) the 64 KB frame limit.
  for (let i = 0; i < 30; i++) {
    const size = 60000 + ri(5000);
    const kind = ri(5);
    if (kind === 0) add(JSON.stringify(withRid({ type: 'publish', channel: 'fz-big', data: 'd'.repeat(size) })), 'huge-data');
    else if (kind === 1) add(JSON.stringify(withRid({ type: 'subscribe', channel: 'c'.repeat(size) })), 'huge-channel');
    else if (kind === 2) add(JSON.stringify(withRid({ type: 'send', to: 't'.repeat(size), data: 1 })), 'huge-to');
    else if (kind === 3) add(JSON.stringify({ type: 'publish', channel: 'fz-big', data: 1, requestId: 'r'.repeat(size) }), 'huge-requestId');
    else add(JSON.stringify(withRid({ type: 'y'.repeat(size) })), 'huge-type');
  }
  // 7. Odd but valid JSON.
  for (const t of ['', ' ', '\n', '{"type":"publish","channel":"fz-1","data":1,"requestId":"dup","requestId":"dup"}',
    '  {"type":"subscribe","channel":"fz-ws","requestId":"ws-1"}  ', '{"type":"subscribe","channel":"fz-ws"}',
    '{"type":"publish","channel":"fz-1","data":{"__proto__":{"x":1}},"requestId":"proto-1"}',
    '{"type":"__proto__","requestId":"proto-2"}', '{"type":"constructor"}', '{"type":"toString","requestId":"proto-3"}']) add(t, 'odd');
  // Shuffle.
  for (let i = items.length - 1; i > 0; i--) { const j = ri(i + 1); [items[i], items[j]] = [items[j], items[i]]; }
  return items;
}

// ------------------------------------------------------------ the test
let stop = false; // ends the good-traffic loop (also set by after())

let srv;
before(async () => { srv = await startServer(); });
after(async () => { stop = true; await cleanupAll(); if (srv) await srv.stop(); });

test(`≥ ${TARGET} malformed frames: right answers, server alive, SDK traffic unaffected (seed ${SEED})`, { timeout: 240000 }, async (t) => {
  t.diagnostic(`FUZZ_SEED=${SEED}`);
  let corpus = buildCorpus();
  while (corpus.length < TARGET) corpus = corpus.concat(buildCorpus().filter((x) => x.cat === 'random-text' || x.cat === 'mutated'));
  t.diagnostic(`corpus: ${corpus.length} in-band frames`);
  const dist = {};
  for (const it of corpus) {
    const k = it.exp.answer === 'error' ? `error:${it.exp.codes.join('|')}:${it.exp.rid}` : it.exp.answer;
    dist[k] = (dist[k] || 0) + 1;
  }
  t.diagnostic(`expected answers: ${JSON.stringify(dist)}`);

  // Well-behaved SDK traffic throughout.
  const G1 = await connectClient(srv);
  const G2 = await connectClient(srv, { token: mintToken({ sub: 'fuzz-good', channels: ['**'], ttl: 3600 }) });
  await G1.subscribe('good-live');
  await G2.subscribe('good-live');
  const sent = { g1: 0, g2: 0 };
  const pubErrors = [];
  const traffic = (async () => {
    for (let i = 0; i < 6000 && !stop; i++) {
      try {
        await G1.publish('good-live', { from: 'g1', seq: sent.g1 }); sent.g1++;
        await G2.publish('good-live', { from: 'g2', seq: sent.g2 }); sent.g2++;
      } catch (e) { pubErrors.push(`${e.name}: ${e.message}`); }
      await sleep(50);
    }
  })();

  // In-band fuzzing over paced workers.
  const failures = [];
  const closes = {};
  const perCat = {};
  let answered = 0;
  const queue = corpus.map((it, i) => ({ ...it, i }));
  let next = 0;
  let abort = false;
  const inFlight = {}; // worker → texts of its current batch (for a crash report)
  const died = () => {
    const x = srv.exitInfo();
    const file = path.join(os.tmpdir(), `metered-fuzz-crash-${SEED}.json`);
    fs.writeFileSync(file, JSON.stringify({ seed: SEED, exit: x, inFlight }, null, 1));
    return new Error(`metered-server died (exit ${JSON.stringify(x)}) while fuzzing; the frames in flight are in ${file}\n` +
      `stderr tail:\n${srv.stderr().slice(-3000)}`);
  };
  async function worker(k) {
    let sock = await rawConnect(srv);
    let scanFrom = sock.frames.length;
    for (let guard = 0; guard < 10000; guard++) {
      const batch = [];
      while (batch.length < BATCH && next < queue.length) batch.push(queue[next++]);
      if (!batch.length || abort) break;
      inFlight[k] = batch.map((it) => it.text);
      const t0 = Date.now();
      const sid = (it) => `S${k}-${it.i}`;
      for (const it of batch) {
        sock.send(it.text);
        sock.send(`{"type":"zz_sentinel","requestId":"${sid(it)}"}`);
      }
      const lastId = sid(batch.at(-1));
      await waitFor(() => sock.closeInfo || !srv.alive() || sock.frames.slice(scanFrom).some((f) => f.json && f.json.requestId === lastId),
        { timeoutMs: 20000, what: `worker ${k} batch answers` });
      if (!srv.alive()) { await sleep(100); throw died(); }
      // Segment the answers by sentinel.
      let bi = 0; let bucket = [];
      for (; scanFrom < sock.frames.length && bi < batch.length; scanFrom++) {
        const f = sock.frames[scanFrom];
        const j = f.json;
        if (!j) { bucket.push({ type: '(non-JSON frame)', text: f.text }); continue; }
        if (j.type === 'presence' || j.type === 'message' || j.type === 'direct') continue;
        if (j.type === 'error' && j.requestId === sid(batch[bi])) {
          if (j.code !== 'unknown_type') failures.push(`sentinel answered ${JSON.stringify(j)}`);
          const it = batch[bi];
          const why = check(it.exp, bucket);
          perCat[it.cat] = (perCat[it.cat] || 0) + 1;
          answered++;
          if (why) failures.push(`[${it.cat}] ${JSON.stringify(it.text.slice(0, 160))}${it.text.length > 160 ? `…(${it.text.length})` : ''}: ${why}`);
          bucket = []; bi++;
          continue;
        }
        bucket.push(j);
      }
      if (sock.closeInfo) {
        const code = sock.closeInfo.code;
        closes[code] = (closes[code] || 0) + 1;
        if (bi < batch.length) {
          const it = batch[bi];
          failures.push(`[${it.cat}] ${JSON.stringify(it.text.slice(0, 160))}: connection closed ${code} '${sock.closeInfo.reason}' (expected ${it.exp.answer} ${it.exp.codes || ''})`);
          // Re-queue what was not reached.
          for (const rest of batch.slice(bi + 1)) queue.push({ ...rest, i: queue.length });
        }
        sock = await rawConnect(srv);
        scanFrom = sock.frames.length;
        continue;
      }
      const spent = Date.now() - t0;
      if (spent < BATCH_MS) await sleep(BATCH_MS - spent);
      if (!srv.alive()) throw died();
    }
    sock.close();
  }
  try {
    await Promise.all(Array.from({ length: WORKERS }, (_, k) => worker(k).catch((e) => { abort = true; throw e; })));
  } catch (e) {
    abort = true; stop = true;
    await traffic;
    throw e;
  }

  // Out-of-band: frames that end the connection, one socket each.
  const fatal = [];
  const oneShot = async (what, send, allowed) => {
    if (!srv.alive()) { stop = true; await traffic; throw died(); }
    inFlight.oneShot = what;
    const sock = await rawConnect(srv);
    const mark = sock.frames.length;
    send(sock);
    sock.send('{"type":"zz_sentinel","requestId":"S-oneshot"}');
    await waitFor(() => sock.closeInfo || sock.json(mark).some((f) => f.requestId === 'S-oneshot'), { timeoutMs: 10000, what });
    let outcome;
    if (sock.closeInfo) {
      outcome = `close ${sock.closeInfo.code}`;
      closes[sock.closeInfo.code] = (closes[sock.closeInfo.code] || 0) + 1;
    } else {
      const ans = sock.json(mark).filter((f) => f.requestId !== 'S-oneshot' && (f.type === 'error' || f.type === 'ack'));
      outcome = ans.length ? ans.map((f) => (f.type === 'error' ? `error ${f.code}${f.requestId ? ' rid' : ''}` : 'ack')).join(',') : 'ignored';
      sock.close();
    }
    fatal.push(`${what}: ${outcome}`);
    if (!allowed.includes(outcome)) failures.push(`[one-shot] ${what}: got '${outcome}', allowed ${allowed.join(' | ')}`);
  };
  for (let i = 0; i < 6; i++) {
    const size = 65537 + ri(60000);
    await oneShot(`text frame of ${size} bytes`, (s) => s.send(JSON.stringify({ type: 'publish', channel: 'fz', data: 'o'.repeat(size), requestId: 'big' })), ['close 1009']);
  }
  await oneShot('200 KB text frame', (s) => s.send('a'.repeat(200000)), ['close 1009']);
  const badUtf8 = [Buffer.from([0xff, 0xfe, 0xfd]), Buffer.from([0xc3, 0x28]), Buffer.from('{"type":"ping","x":"\xed\xa0\x80"}', 'latin1'),
    Buffer.from([0x7b, 0x22, 0x74, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x22, 0xe2, 0x82, 0x22, 0x7d]), Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80]),
    Buffer.from([0xc0, 0xaf]), Buffer.from([0xf4, 0x90, 0x80, 0x80])];
  for (const b of badUtf8) {
    await oneShot(`invalid UTF-8 text frame ${b.toString('hex')}`, (s) => s.sendText(b), ['close 1007', 'error malformed_message']);
  }
  for (let i = 0; i < 8; i++) {
    const bytes = Buffer.from(Array.from({ length: 1 + ri(300) }, () => ri(256)));
    await oneShot(`binary frame of ${bytes.length} random bytes`, (s) => s.sendBinary(bytes), ['close 1003', 'close 1007', 'close 1008', 'error malformed_message', 'ignored']);
  }
  await oneShot('binary frame holding a valid subscribe', (s) => s.sendBinary(Buffer.from('{"type":"subscribe","channel":"fz-bin","requestId":"bin-1"}')),
    ['close 1003', 'close 1007', 'close 1008', 'error malformed_message', 'ignored']);
  await oneShot('burst of 250 pings', (s) => { for (let i = 0; i < 250; i++) s.send('{"type":"ping"}'); }, ['close 4011']);

  // Let the good traffic run a little past the fuzzing, then stop it.
  const target = sent.g1 + 10;
  await waitFor(() => sent.g1 >= target, { timeoutMs: 20000, what: 'good traffic continues after fuzzing' });
  stop = true;
  await traffic;
  await waitFor(() => G1.rec.of('message', (m) => m.channel === 'good-live').length >= sent.g2 &&
    G2.rec.of('message', (m) => m.channel === 'good-live').length >= sent.g1, { timeoutMs: 15000, what: 'all good messages delivered' });

  const at1 = G1.rec.of('message', (m) => m.channel === 'good-live').map((m) => m.data);
  const at2 = G2.rec.of('message', (m) => m.channel === 'good-live').map((m) => m.data);
  t.diagnostic(`answered ${answered} in-band frames; closes ${JSON.stringify(closes)}; good traffic g1=${sent.g1} g2=${sent.g2}`);
  t.diagnostic(`one-shot outcomes: ${fatal.join('; ')}`);
  t.diagnostic(`per category: ${JSON.stringify(perCat)}`);
  const m = await metrics(srv).catch(() => ({}));
  t.diagnostic(`metrics closes: ${JSON.stringify(Object.fromEntries(Object.entries(m).filter(([k]) => k.startsWith('metered_closes_total'))))}`);

  assert.ok(srv.alive(), 'the server process is still running');
  assert.equal((await fetch(srv.http + '/healthz')).status, 200);
  assert.ok(answered >= 5000, `at least 5000 fuzz frames answered (${answered})`);
  assert.deepEqual(pubErrors, [], 'good publishes never failed');
  assert.equal(G1.rec.count('disconnected') + G2.rec.count('disconnected'), 0, 'good clients never disconnected');
  assert.deepEqual(at2, Array.from({ length: sent.g1 }, (_, i) => ({ from: 'g1', seq: i })), 'G2 got every G1 message, in order');
  assert.deepEqual(at1, Array.from({ length: sent.g2 }, (_, i) => ({ from: 'g2', seq: i })), 'G1 got every G2 message, in order');
  assert.ok(sent.g1 >= 20, `good traffic flowed during the fuzzing (${sent.g1})`);
  if (failures.length) {
    const byKind = {};
    for (const f of failures) { const k = f.slice(0, f.indexOf(']') + 1); (byKind[k] ||= []).push(f); }
    const summary = Object.entries(byKind).map(([k, v]) => `${k} ×${v.length}\n    ${v.slice(0, 4).join('\n    ')}`).join('\n');
    assert.fail(`${failures.length} wrong answers (FUZZ_SEED=${SEED}):\n${summary}`);
  }
  await G1.close(); await G2.close();
  // A clean exit after all that (under the ASan build this also means no leak reports).
  const code = await srv.stop('SIGTERM');
  assert.equal(code, 0, `server exit status after fuzzing; stderr tail:\n${srv.stderr().slice(-3000)}`);
});
