// The cluster soak (issue 18): 3 metered-server nodes over the caller's own
// redis-server, N raw-protocol clients (Node `ws`): every one subscribed to
// one channel, some publishing, some sending direct. A node is SIGKILLed
// every killEveryMs and restarted; its clients re-home to live nodes the way
// a load balancer sends a reconnect elsewhere: most at once ("fast", within
// the lease), a quarter only after the dead node's peers were announced left
// ("late"). An invariant checker counts violations as they happen and once
// more at the end:
//   order      a receiver got a sender's messages out of send order
//   duplicate  a message or direct delivered twice to one client
//   echo       a client got its own publish; `from` differs from the sender
//   lost       a message published (or a direct acked) while both ends were
//              up and not delivered; a receiver whose node was killed is
//              excused for what was acked less than `graceMs` before the kill
//   presence   a delta that joins a member the view has or removes one it
//              has not; a view that does not equal the live set within
//              `convergeMs` (2 leases + 1 s) of a kill or rejoin (a ghost
//              or a missing member);
//              left+joined of a client that re-homed within half the lease
//   drop       a client socket closed that was not on the killed node
//   node-exit  a node that exits by itself, or not with 0 on SIGTERM
// Shared by tests/cluster/soak.test.mjs (CI size) and bench/cluster.sh --soak.

import { mintToken, sleep, waitFor } from '../js/lib/server.mjs';
import { WebSocket } from '../js/lib/sdk.mjs';
import { startNodes } from './cluster-lib.mjs';

const CHANNEL = 'soak';
const KINDS = ['order', 'duplicate', 'echo', 'lost', 'presence', 'drop', 'node-exit'];

/**
 * opts: redis (from startRedis), durationMs, killEveryMs, clients, leaseMs,
 * pubRate, directRate (per client, msg/s), graceMs, convergeMs, log(line),
 * redisRestart (Redis kill -9 and restart half way between kills).
 * Resolves to {rows, totals, violations}.
 */
export async function runSoak(opts) {
  const o = {
    durationMs: 60000, killEveryMs: 15000, clients: 12, leaseMs: 6000,
    pubRate: 5, directRate: 2, log: () => {}, ...opts,
  };
  o.graceMs ??= Math.max(2000, o.leaseMs / 2);
  // A dead node's peers leave a lease plus one reaper period (1 s) after
  // it died; the rest is slack for a loaded host.
  o.convergeMs ??= 2 * o.leaseMs + 1000;
  const nodes = await startNodes(o.redis, 3, ['--cluster-lease-ms', String(o.leaseMs)]);
  const violations = [];
  const kills = []; // {at, victim}
  let stopping = false;
  const t0 = Date.now();
  const violate = (kind, what) => {
    violations.push({ kind, what, at: Date.now(), kill: kills.length });
    if (violations.length <= 50) o.log(`VIOLATION ${kind}: ${what}`);
  };
  const nodeWatch = (n, i) => n.exitInfo() === null && n.proc.once('exit', (code, sig) => {
    if (!n.killing && !stopping) violate('node-exit', `node n${i + 1} exited by itself (${code ?? sig})`);
  });
  nodes.forEach(nodeWatch);

  // Every publish and direct by sender and sequence number.
  const pubs = new Map(); // `${s}/${i}` -> {s, i, tsend, tack, told, seen}
  const directs = new Map(); // `${s}/${i}` -> {s, i, to, tsend, tack, told, got}
  const clients = [];
  for (let k = 0; k < o.clients; k++) {
    const id = `c${k}`;
    clients.push({
      id, k, token: mintToken({ sub: id, channels: ['**'], ttl: 7200 }),
      role: k % 3 === 0 ? 'pub' : k % 3 === 1 ? 'direct' : 'sub',
      late: k % 4 === 3, session: null, sessions: [], seq: 0, pending: [],
      away: false, rehomedAt: 0,
    });
  }
  const live = () => clients.filter((c) => c.session?.subAt && !c.session.closedAt);
  const perNode = (n) => clients.filter((c) => c.session && !c.session.closedAt && c.session.node === n).length;
  const leastLoaded = (exclude) => {
    const up = nodes.filter((n) => n !== exclude && n.alive() && !n.killing);
    return up.reduce((a, b) => (perNode(b) < perNode(a) ? b : a));
  };

  const onFrame = (c, s, f) => {
    if (f.type === 'ack' || f.type === 'error') {
      const rec = s.req.get(f.requestId);
      if (!rec) return;
      s.req.delete(f.requestId);
      if (f.type === 'ack') {
        rec.tack ??= Date.now();
        rec.frame = null; // a long soak keeps only what the checks need
      } else {
        rec.told = f.code || 'error'; // the sender is told: no resend (it could reorder)
      }
      c.pending = c.pending.filter((p) => p !== rec);
      return;
    }
    if (f.type === 'presence' && f.channel === CHANNEL) {
      if (!s.subAt) {
        if (s.subAcked) { s.subAt = Date.now(); s.view = new Set(f.joined.map((e) => e.peerId)); resend(c, s); }
        return;
      }
      for (const e of f.joined) {
        if (s.view.has(e.peerId)) violate('presence', `${c.id} told ${e.peerId} joined while in its view`);
        s.view.add(e.peerId);
        s.log.push({ t: Date.now(), ev: `+${e.peerId}` });
      }
      for (const e of f.left) {
        if (!s.view.has(e.peerId)) violate('presence', `${c.id} told ${e.peerId} left while not in its view`);
        s.view.delete(e.peerId);
        s.log.push({ t: Date.now(), ev: `-${e.peerId}` });
      }
      return;
    }
    if (f.type === 'message' && f.channel === CHANNEL) {
      const d = f.data;
      if (f.from === c.id) violate('echo', `${c.id} got its own message ${d.i}`);
      if (d.s !== f.from) violate('echo', `${c.id}: message ${d.s}/${d.i} from ${f.from}`);
      const key = `${d.s}/${d.i}`;
      const last = s.lastFrom.get(d.s) ?? -1;
      if (c.got.has(key)) violate('duplicate', `${c.id} got ${key} twice`);
      else if (d.i <= last) violate('order', `${c.id} got ${key} after ${d.s}/${last}`);
      c.got.add(key);
      s.lastFrom.set(d.s, Math.max(last, d.i));
      (s.recv.get(d.s) ?? s.recv.set(d.s, []).get(d.s)).push(d.i);
      const p = pubs.get(key);
      if (p) p.seen = true;
      return;
    }
    if (f.type === 'direct') {
      const d = f.data;
      const key = `${d.s}/${d.i}`;
      if (f.from !== d.s || d.to !== c.id) violate('echo', `${c.id}: direct ${key} from ${f.from} to ${d.to}`);
      if (c.got.has(`d${key}`)) violate('duplicate', `${c.id} got direct ${key} twice`);
      const last = c.lastDirect.get(d.s) ?? -1;
      if (d.i <= last && !c.got.has(`d${key}`)) violate('order', `${c.id} got direct ${key} after ${d.s}/${last}`);
      c.got.add(`d${key}`);
      c.lastDirect.set(d.s, Math.max(last, d.i));
      const r = directs.get(key);
      if (r) r.got = true;
    }
  };

  // Unanswered requests of a session that died go again, in order, on the
  // next one with their requestId: the dedupe makes that exactly-once.
  const resend = (c, s) => {
    for (const rec of c.pending) {
      s.req.set(rec.rid, rec);
      s.ws.send(JSON.stringify(rec.frame));
    }
  };

  const connect = (c, node) => new Promise((resolve) => {
    const s = {
      node, ws: new WebSocket(`${node.url}/v1?token=${encodeURIComponent(c.token)}`),
      subAcked: false, subAt: 0, closedAt: 0, killed: false, view: new Set(), log: [],
      recv: new Map(), lastFrom: new Map(), req: new Map(), openedAt: Date.now(),
    };
    c.session = s;
    c.sessions.push(s);
    c.got ??= new Set();
    c.lastDirect ??= new Map();
    const rid = `sub-${c.id}-${c.sessions.length}`;
    s.ws.on('message', (buf) => {
      let f;
      try { f = JSON.parse(buf.toString()); } catch { return; }
      if (f.type === 'welcome') { s.ws.send(JSON.stringify({ type: 'subscribe', channel: CHANNEL, requestId: rid })); return; }
      if (f.type === 'ack' && f.requestId === rid) { s.subAcked = true; return; }
      if (f.type === 'error' && f.requestId === rid) { violate('drop', `${c.id}: subscribe refused ${f.code}`); return; }
      onFrame(c, s, f);
      if (s.subAt) resolve();
    });
    s.ws.on('error', () => {});
    s.ws.on('close', (code, reason) => {
      s.closedAt = Date.now();
      resolve();
      if (!s.killed && !s.closing && !stopping) violate('drop', `${c.id}'s socket on ${node.url} closed ${code} ${reason}`);
      if (stopping || s.closing || c.session !== s) return;
      // Re-home like a load balancer: fast clients at once (half of them
      // to the least loaded node, which is mostly the killed one restarted:
      // a new life of the same node id whose old life is not reaped yet),
      // late ones when the driver lets them back (after the kill's presence
      // converged).
      if (c.late) { c.away = true; return; }
      setTimeout(() => {
        if (stopping) return;
        connect(c, leastLoaded(c.k % 2 ? node : null)).then(() => { if (c.session?.subAt) c.rehomedAt = c.session.subAt; });
      }, 50 + Math.floor(Math.random() * 250));
    });
  });

  for (const c of clients) await connect(c, nodes[c.k % 3]);
  await waitFor(() => live().length === clients.length, { timeoutMs: 30000, what: 'every client subscribed' });

  // Senders: due messages every 20 ms while subscribed.
  const sendTick = () => {
    const now = Date.now();
    for (const c of clients) {
      const s = c.session;
      if (!s || !s.subAt || s.closedAt || c.role === 'sub') continue;
      const rate = c.role === 'pub' ? o.pubRate : o.directRate;
      c.due ??= now;
      while (c.due <= now) {
        c.due += 1000 / rate;
        const i = c.seq++;
        const rid = `${c.id}-${i}`;
        let frame;
        let rec;
        if (c.role === 'pub') {
          frame = { type: 'publish', channel: CHANNEL, data: { s: c.id, i }, requestId: rid };
          rec = { s: c.id, i, tsend: now, rid, frame };
          pubs.set(`${c.id}/${i}`, rec);
        } else {
          const others = clients.filter((x) => x !== c);
          const to = others[Math.floor(Math.random() * others.length)].id;
          frame = { type: 'send', to, data: { s: c.id, i, to }, requestId: rid };
          rec = { s: c.id, i, to, tsend: now, rid, frame };
          directs.set(`${c.id}/${i}`, rec);
        }
        c.pending.push(rec);
        s.req.set(rid, rec);
        s.ws.send(JSON.stringify(frame));
      }
    }
  };
  const sender = setInterval(sendTick, 20);

  // The view every live session must converge to: the live set but itself.
  const converged = () => {
    const ids = live().map((c) => c.id).sort();
    const bad = [];
    for (const c of live()) {
      const want = ids.filter((x) => x !== c.id).join(',');
      const got = [...c.session.view].sort().join(',');
      if (want !== got) bad.push(`${c.id}: has [${got}] wants [${want}]`);
    }
    return bad;
  };
  const awaitConvergence = async (label) => {
    const start = Date.now();
    let bad = [];
    while (Date.now() - start < o.convergeMs) {
      bad = converged();
      if (!bad.length && clients.every((c) => c.away || (c.session?.subAt && !c.session.closedAt))) return Date.now() - start;
      await sleep(50);
    }
    violate('presence', `${label}: no convergence in ${o.convergeMs} ms: ${bad.slice(0, 3).join('; ')}`);
    return NaN;
  };

  const rows = [];
  const redisRows = [];
  let v = 0;
  // Kills at killEveryMs, 2 x killEveryMs, ... before durationMs; the run
  // goes on to durationMs after the last.
  while ((kills.length + 1) * o.killEveryMs < o.durationMs) {
    await sleep(Math.max(0, t0 + (kills.length + 1) * o.killEveryMs - Date.now()));
    const victim = nodes[kills.length % 3];
    const on = clients.filter((c) => c.session && !c.session.closedAt && c.session.node === victim);
    for (const c of on) c.session.killed = true;
    const at = Date.now();
    kills.push({ at, victim });
    victim.killing = true;
    await victim.stop('SIGKILL');
    await victim.restart();
    victim.killing = false;
    nodeWatch(victim, nodes.indexOf(victim));
    const restartMs = Date.now() - at;
    const leftMs = await awaitConvergence(`kill ${kills.length}`);
    const late = clients.filter((c) => c.away);
    for (const c of late) { c.away = false; connect(c, leastLoaded(null)); }
    const rejoinMs = late.length ? await awaitConvergence(`rejoin after kill ${kills.length}`) : 0;
    const fast = on.filter((c) => !c.late);
    const rehome = fast.map((c) => c.rehomedAt - at).filter((x) => x > 0);
    // left+joined of a client back within half the lease, at sessions that
    // lived through the kill.
    for (const c of fast) {
      if (!(c.rehomedAt - at < o.leaseMs / 2)) continue;
      for (const w of clients) {
        const s = w.session;
        if (s && s.subAt && s.subAt < at && s.log.some((e) => e.t >= at && e.ev === `-${c.id}`))
          violate('presence', `${w.id} saw ${c.id} leave though it re-homed ${c.rehomedAt - at} ms after the kill`);
      }
    }
    rows.push({
      kill: kills.length, t: Math.round((at - t0) / 1000), victim: `n${nodes.indexOf(victim) + 1}`,
      on: on.length, fast: fast.length, late: late.length,
      rehomeMaxMs: rehome.length ? Math.max(...rehome) : NaN, restartMs, leftMs,
      rejoinMs,
      violations: violations.length - v,
    });
    v = violations.length;
    o.log(`kill ${kills.length} of n${nodes.indexOf(victim) + 1} at ${rows.at(-1).t} s: ${on.length} clients on it; ` +
      `presence converged ${leftMs} ms, late clients back ${rows.at(-1).rejoinMs} ms; violations so far ${violations.length}`);
    if (o.redisRestart) {
      // Redis kill -9 and restart half way to the next kill, once this
      // kill's presence converged: every node re-registers and claims
      // again; no client socket may close (a `drop`), views stay true.
      await sleep(Math.max(0, at + o.killEveryMs / 2 - Date.now()));
      const rat = Date.now();
      await o.redis.restart();
      const back = Date.now() - rat;
      const convMs = await awaitConvergence(`Redis restart after kill ${kills.length}`);
      // Presence views hold through the restart; what shows it is back is
      // a publish acked (and so delivered) after the restart.
      const firstAck = await waitFor(() => {
        const p = [...pubs.values()].find((x) => x.tack && x.tsend >= rat + back);
        return p ? p.tack - rat : 0;
      }, { timeoutMs: o.convergeMs, what: 'a publish acked after the Redis restart' }).catch(() => NaN);
      if (!Number.isFinite(firstAck)) violate('lost', `nothing acked within ${o.convergeMs} ms of Redis restart ${kills.length}`);
      redisRows.push({ after: kills.length, t: Math.round((rat - t0) / 1000), restartMs: back, convMs, firstAckMs: firstAck,
        violations: violations.length - v });
      v = violations.length;
      o.log(`Redis kill -9 and restart at ${redisRows.at(-1).t} s: up again ${back} ms, first publish acked ` +
        `${firstAck} ms after the kill; violations so far ${violations.length}`);
    }
  }

  await sleep(Math.max(0, t0 + o.durationMs - Date.now()));
  // Quiescence: senders stop; every answer is in; then the end checks.
  clearInterval(sender);
  await waitFor(() => clients.every((c) => c.pending.length === 0), { timeoutMs: 30000, what: 'every request answered' })
    .catch(() => violate('lost', `unanswered requests at the end: ${clients.reduce((a, c) => a + c.pending.length, 0)}`));
  const excused = { deliveries: 0, directs: 0 };
  const expected = () => {
    const missing = [];
    excused.deliveries = excused.directs = 0;
    const bySender = new Map();
    for (const p of pubs.values()) if (p.tack || p.seen) (bySender.get(p.s) ?? bySender.set(p.s, []).get(p.s)).push(p);
    for (const c of clients) {
      for (const s of c.sessions) {
        if (!s.subAt) continue;
        const killAt = s.killed ? s.closedAt : Infinity;
        for (const [sender, list] of bySender) {
          if (sender === c.id) continue;
          const got = s.recv.get(sender) ?? [];
          const gotSet = new Set(got);
          const lastGot = got.length ? got[got.length - 1] : -1;
          for (const p of list) {
            if (p.tsend <= s.subAt || gotSet.has(p.i) || c.got.has(`${p.s}/${p.i}`)) continue;
            if (p.tsend >= killAt) continue;
            if (s.killed && p.i > lastGot && !(p.tack && p.tack < killAt - o.graceMs)) { excused.deliveries++; continue; }
            missing.push(`${c.id} (session ${c.sessions.indexOf(s) + 1}${s.killed ? ', killed' : ''}) lacks ${p.s}/${p.i}`);
          }
        }
      }
    }
    for (const d of directs.values()) {
      if (!d.tack || d.got) continue;
      const t = clients.find((c) => c.id === d.to);
      const ok = t.sessions.some((s) => s.killed && s.closedAt >= d.tsend - o.graceMs && s.closedAt <= d.tack + o.graceMs);
      if (ok) excused.directs++;
      else missing.push(`direct ${d.s}/${d.i} to ${d.to} acked, never delivered`);
    }
    return missing;
  };
  let missing = [];
  await waitFor(() => { missing = expected(); return missing.length === 0; }, { timeoutMs: 20000, what: 'every delivery in' })
    .catch(() => { for (const m of missing) violate('lost', m); });
  await awaitConvergence('end of run');

  stopping = true;
  for (const c of clients) { if (c.session) { c.session.closing = true; c.session.ws.close(); } }
  for (const n of nodes) {
    const code = await n.stop('SIGTERM');
    if (code !== 0) violate('node-exit', `n${nodes.indexOf(n) + 1} exited ${code} on SIGTERM: ${n.stderr().slice(-1500)}`);
  }

  const totals = {
    seconds: Math.round((Date.now() - t0) / 1000), kills: kills.length, clients: clients.length,
    published: pubs.size, acked: [...pubs.values()].filter((p) => p.tack).length,
    told: [...pubs.values()].filter((p) => p.told).length,
    deliveries: clients.reduce((a, c) => a + [...c.got].filter((k) => !k.startsWith('d')).length, 0),
    directs: directs.size, directsAcked: [...directs.values()].filter((d) => d.tack).length,
    directsNotFound: [...directs.values()].filter((d) => d.told === 'peer_not_found').length,
    directsDelivered: [...directs.values()].filter((d) => d.got).length,
    excusedDeliveries: excused.deliveries, excusedDirects: excused.directs,
    sessions: clients.reduce((a, c) => a + c.sessions.length, 0),
    violations: violations.length,
  };
  for (const k of KINDS) totals[k] = violations.filter((x) => x.kind === k).length;
  totals.redisRestarts = redisRows.length;
  return { rows, redisRows, totals, violations, nodes };
}

/** The per-kill table and the totals, as Markdown. */
export function formatSoak({ rows, redisRows = [], totals }) {
  const f = (x) => (Number.isFinite(x) ? String(x) : '-');
  const out = ['| kill | at s | node | its clients | fast re-homed | late | slowest re-home ms | node back ms | presence converged ms | late back, converged ms | violations |',
    '|---|---|---|---|---|---|---|---|---|---|---|'];
  for (const r of rows)
    out.push(`| ${r.kill} | ${r.t} | ${r.victim} | ${r.on} | ${r.fast} | ${r.late} | ${f(r.rehomeMaxMs)} | ${r.restartMs} | ${f(r.leftMs)} | ${f(r.rejoinMs)} | ${r.violations} |`);
  if (redisRows.length) {
    out.push('', '| Redis restart after kill | at s | Redis back ms | presence converged ms | first publish acked after the kill, ms | violations |',
      '|---|---|---|---|---|---|');
    for (const r of redisRows)
      out.push(`| ${r.after} | ${r.t} | ${r.restartMs} | ${f(r.convMs)} | ${f(r.firstAckMs)} | ${r.violations} |`);
  }
  out.push('', `Totals: ${totals.seconds} s, ${totals.kills} kills, ${totals.redisRestarts ?? 0} Redis restarts, ${totals.clients} clients (${totals.sessions} sessions); ` +
    `publishes ${totals.published} (acked ${totals.acked}, told ${totals.told}), deliveries ${totals.deliveries}; ` +
    `directs ${totals.directs} (acked ${totals.directsAcked}, peer_not_found ${totals.directsNotFound}, delivered ${totals.directsDelivered}); ` +
    `excused at a killed receiver: ${totals.excusedDeliveries} deliveries, ${totals.excusedDirects} acked directs.`);
  out.push(`Violations: ${totals.violations} (` + KINDS.map((k) => `${k} ${totals[k]}`).join(', ') + ').');
  return out.join('\n');
}
