// Channel history and resume in cluster mode (issue 18): the history
// lives in a Redis stream per channel, numbered by the publish script, so
// a client that resumes on another node gets exactly what it missed, in
// order, with the numbers a client that stayed saw. Three metered-server
// processes over a redis-server of this test's own (loopback, no
// persistence), raw sockets speaking the history extension
// (docs/protocol.md, "Channel history and resume").

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mintToken, writeKeysFile } from '../js/lib/server.mjs';
import { rawConnect, cleanupAll } from '../js/lib/sdk.mjs';
import { startRedis, startNodes, messages, waitFor, redisCommand } from './cluster-lib.mjs';

let redis;
let nodes = [];
let keys;
// An app with small limits, for trimming by count and by age.
const HIST = { kid: 'hist-kid', secret: 'history test secret' };

before(async () => {
  keys = writeKeysFile({
    apps: [{
      id: 'hist', maxConnections: 100, publishableKeys: [],
      secrets: [HIST],
      history: { maxMessages: 5, maxAgeSeconds: 1 },
    }],
  });
  redis = await startRedis();
  // A 6 s lease, as nodes.test.mjs: ASan on shared cores stalls.
  nodes = await startNodes(redis, 3, ['--cluster-lease-ms', '6000', '--keys', keys]);
});

after(async () => {
  for (const n of nodes) console.error(`--- ${n.argv.join(' ')}\n${n.stderr().slice(-3000)}`);
  await cleanupAll();
  for (const n of nodes) await n.stop('SIGKILL');
  if (redis) await redis.cleanup();
});

const devTok = (sub) => mintToken({ sub, channels: ['**'], ttl: 600 });
const histTok = (sub) => mintToken({ sub, channels: ['**'], ttl: 600, keys, kid: HIST.kid });

/** Subscribes with a history object; resolves with the history answer. */
async function subscribeHistory(sock, channel, rid, history = {}) {
  sock.send({ type: 'subscribe', channel, requestId: rid, history });
  await sock.waitFrame((f) => f.type === 'ack' && f.requestId === rid, { what: `ack ${rid}`, advance: false });
  return sock.waitFrame((f) => f.type === 'history' && f.channel === channel, { what: `history answer to ${rid}`, advance: false });
}

/** Publishes data items in order; resolves when every one is acked. */
async function publishAll(sock, channel, items, tag) {
  items.forEach((data, i) => sock.send({ type: 'publish', channel, data, requestId: `${tag}-${i}` }));
  for (let i = 0; i < items.length; i++)
    await sock.waitFrame((f) => f.type === 'ack' && f.requestId === `${tag}-${i}`, { what: `ack ${tag}-${i}`, advance: false });
}

const last = (sock, channel) => messages(sock, channel).at(-1);

/** After a Redis restart: publishes once the nodes accept again (they
 * refuse while they resync), from a fresh connection of peer `sub`. */
async function publishWhenBack(node, sub, channel, data, rid) {
  let sock;
  await waitFor(async () => {
    try { sock?.close(); } catch { /* closed */ }
    sock = await rawConnect(node, { token: devTok(sub) }).catch(() => null);
    if (!sock) return false;
    sock.send({ type: 'publish', channel, data, requestId: rid });
    const f = await sock.waitFrame((x) => (x.type === 'ack' || x.type === 'error') && x.requestId === rid,
      { what: 'publish answer', timeoutMs: 5000 }).catch(() => null);
    return f?.type === 'ack';
  }, { what: 'a publish accepted after the Redis restart', timeoutMs: 30000, intervalMs: 500 });
  return sock;
}

test('resume on a third node replays exactly the missed messages, numbered as a client that stayed saw them', async () => {
  const [n1, n2, n3] = nodes;
  const ch = 'resume-room';
  const pub = await rawConnect(n1, { token: devTok('pub') });
  const stay = await rawConnect(n3, { token: devTok('stay') });
  let away = await rawConnect(n2, { token: devTok('away') });
  const started = await subscribeHistory(stay, ch, 's1');
  assert.equal(started.status, 'started');
  assert.equal((await subscribeHistory(away, ch, 'a1')).status, 'started');

  await publishAll(pub, ch, [0, 1, 2, 3, 4].map((i) => ({ i })), 'p0');
  await waitFor(() => messages(away, ch).length === 5 && messages(stay, ch).length === 5, { what: 'first five on both' });
  const pos = last(away, ch);
  assert.equal(pos.epoch, started.epoch);
  assert.deepEqual(messages(away, ch).map((m) => m.seq), messages(stay, ch).map((m) => m.seq));

  away.close();
  await away.closed;
  await publishAll(pub, ch, [5, 6, 7, 8, 9, 10, 11, 12, 13, 14].map((i) => ({ i })), 'p1');
  await waitFor(() => messages(stay, ch).length === 15, { what: 'the stayer has all 15' });

  // Back on the third node; three more published while the resume is read.
  away = await rawConnect(n3, { token: devTok('away') });
  away.send({ type: 'subscribe', channel: ch, requestId: 'a2', history: { epoch: pos.epoch, seq: pos.seq } });
  await publishAll(pub, ch, [15, 16, 17].map((i) => ({ i })), 'p2');
  await waitFor(() => messages(stay, ch).length === 18, { what: 'the stayer has all 18' });
  await waitFor(() => messages(away, ch).length === 13, { what: 'the resumed client has 13', timeoutMs: 15000 });

  const got = messages(away, ch);
  const want = messages(stay, ch).slice(5);
  assert.deepEqual(got.map((m) => m.data.i), want.map((m) => m.data.i), 'missed ones then live ones, in order, once each');
  assert.deepEqual(got.map((m) => `${m.epoch}/${m.seq}`), want.map((m) => `${m.epoch}/${m.seq}`), 'same numbers as the stayer');
  const answer = away.json().find((f) => f.type === 'history');
  assert.equal(answer.status, 'resumed', JSON.stringify(answer));
  assert.equal(answer.epoch, pos.epoch);
  // The answer closes the replay: what it counts came before it, the rest live after.
  const frames = away.json().filter((f) => (f.type === 'message' && f.channel === ch) || f.type === 'history');
  const at = frames.findIndex((f) => f.type === 'history');
  assert.equal(answer.replayed, at);
  assert.ok(answer.replayed >= 10, `at least the 10 missed were replayed: ${answer.replayed}`);
  assert.equal(answer.seq, frames[at - 1].seq);

  // Nothing more arrives, no duplicate later either.
  await publishAll(pub, ch, [{ i: 18 }], 'p3');
  await waitFor(() => messages(away, ch).length === 14, { what: 'the live message after the resume' });
  assert.equal(last(away, ch).seq, last(stay, ch).seq);
});

test('resume past the count limit is told lost with the count; past the age limit too', async () => {
  const [n1, n2, n3] = nodes;
  const ch = 'trimmed';
  const pub = await rawConnect(n1, { token: histTok('pub') });
  let away = await rawConnect(n2, { token: histTok('away') });
  const started = await subscribeHistory(away, ch, 'a1');
  await publishAll(pub, ch, [{ i: 0 }], 'p0');
  await waitFor(() => messages(away, ch).length === 1, { what: 'first message' });
  const pos = last(away, ch);
  assert.equal(pos.seq, started.seq + 1);
  away.close();
  await away.closed;

  // 8 published, 5 kept (maxMessages): 3 gone.
  await publishAll(pub, ch, [1, 2, 3, 4, 5, 6, 7, 8].map((i) => ({ i })), 'p1');
  away = await rawConnect(n3, { token: histTok('away') });
  let answer = await subscribeHistory(away, ch, 'a2', { epoch: pos.epoch, seq: pos.seq });
  assert.deepEqual({ status: answer.status, missed: answer.missed, seq: answer.seq, epoch: answer.epoch },
    { status: 'lost', missed: 8, seq: pos.seq + 8, epoch: pos.epoch });
  assert.equal(messages(away, ch).length, 0, 'nothing of a gap is replayed');

  // Within both limits: replayed.
  const pos2 = { epoch: answer.epoch, seq: answer.seq };
  away.close();
  await away.closed;
  await publishAll(pub, ch, [9, 10].map((i) => ({ i })), 'p2');
  away = await rawConnect(n2, { token: histTok('away') });
  answer = await subscribeHistory(away, ch, 'a3', pos2);
  assert.equal(answer.status, 'resumed', JSON.stringify(answer));
  assert.deepEqual(messages(away, ch).map((m) => m.data.i), [9, 10]);

  // Older than maxAgeSeconds (1 s): gone, told with the count.
  const pos3 = { epoch: answer.epoch, seq: answer.seq };
  away.close();
  await away.closed;
  await publishAll(pub, ch, [11, 12].map((i) => ({ i })), 'p3');
  const publishedAt = Date.now();
  await waitFor(() => Date.now() - publishedAt > 1500, { what: 'past the age limit', timeoutMs: 5000 });
  away = await rawConnect(n1, { token: histTok('away') });
  answer = await subscribeHistory(away, ch, 'a4', pos3);
  assert.deepEqual({ status: answer.status, missed: answer.missed }, { status: 'lost', missed: 2 });
  assert.equal(messages(away, ch).length, 0);
});

test('a Redis restart without persistence is an epoch change to a resuming client, never a silent gap', async () => {
  const [n1, n2, n3] = nodes;
  const ch = 'after-restart';
  const pub = await rawConnect(n1, { token: devTok('pub2') });
  const away = await rawConnect(n2, { token: devTok('away2') });
  await subscribeHistory(away, ch, 'a1');
  await publishAll(pub, ch, [{ i: 0 }, { i: 1 }], 'p0');
  await waitFor(() => messages(away, ch).length === 2, { what: 'two messages' });
  const pos = last(away, ch);

  await redis.restart();
  // The new numbering starts at 1 in a new epoch.
  await publishWhenBack(n1, 'pub3', ch, { i: 2 }, 'after');

  const back = await rawConnect(n3, { token: devTok('away3') });
  const answer = await subscribeHistory(back, ch, 'b1', { epoch: pos.epoch, seq: pos.seq });
  assert.equal(answer.status, 'lost', JSON.stringify(answer));
  assert.equal(answer.missed, null);
  assert.notEqual(answer.epoch, pos.epoch);
  assert.equal(answer.seq, 1);
  assert.equal(messages(back, ch).length, 0);
});

test('a Redis restarted from an older snapshot starts a new epoch: numbers are never reused', async () => {
  const [n1, n2, n3] = nodes;
  const ch = 'snapshot-restart';
  const pub = await rawConnect(n1, { token: devTok('pub4') });
  const away = await rawConnect(n2, { token: devTok('away4') });
  await subscribeHistory(away, ch, 'a1');
  await publishAll(pub, ch, [{ i: 0 }, { i: 1 }], 'p0');
  await waitFor(() => messages(away, ch).length === 2, { what: 'two messages' });
  // The snapshot holds seq 2; the client sees 4 before the restart loads it.
  assert.match(await redisCommand(redis.port, 'SAVE'), /^\+OK/);
  await publishAll(pub, ch, [{ i: 2 }, { i: 3 }], 'p1');
  await waitFor(() => messages(away, ch).length === 4, { what: 'four messages' });
  const pos = last(away, ch);
  await redis.restart();
  // Three published after it: with the snapshot's numbering they would
  // be 3, 4, 5, and a resume after 4 would replay only the last.
  const fresh = await publishWhenBack(n1, 'pub5', ch, { i: 4 }, 'after-0');
  await publishAll(fresh, ch, [{ i: 5 }, { i: 6 }], 'after-more');

  const back = await rawConnect(n3, { token: devTok('away5') });
  const answer = await subscribeHistory(back, ch, 'b1', { epoch: pos.epoch, seq: pos.seq });
  assert.deepEqual({ status: answer.status, missed: answer.missed, seq: answer.seq },
    { status: 'lost', missed: null, seq: 3 }, JSON.stringify(answer));
  assert.notEqual(answer.epoch, pos.epoch);
  assert.equal(messages(back, ch).length, 0);
});

test('an unsubscribe that overtakes the history read still gets the subscribe acked', async () => {
  const s = await rawConnect(nodes[1], { token: devTok('quick') });
  s.send({ type: 'subscribe', channel: 'resume-room', requestId: 'q1', history: {} });
  s.send({ type: 'unsubscribe', channel: 'resume-room', requestId: 'q2' });
  for (const rid of ['q1', 'q2'])
    await s.waitFrame((f) => f.type === 'ack' && f.requestId === rid, { what: `ack ${rid}`, advance: false });
});

test('every node exits 0 on SIGTERM (under ASan, LeakSanitizer checks each at exit)', async () => {
  await cleanupAll();
  for (const n of nodes) assert.equal(await n.stop('SIGTERM', { timeoutMs: 20000 }), 0, n.stderr().slice(-3000));
});
