// Shared by tests/cluster/*.test.mjs and bench/cluster.sh: a redis-server
// of the test's own on a free loopback port (no persistence, its directory
// removed afterwards) and metered-server nodes started with --cluster.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startServer, waitFor, sleep } from '../js/lib/server.mjs';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function ping(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    let buf = '';
    c.setTimeout(500, () => { c.destroy(); resolve(false); });
    c.on('error', () => resolve(false));
    c.on('connect', () => c.write('PING\r\n'));
    c.on('data', (d) => { buf += d; if (buf.includes('PONG')) { c.end(); resolve(true); } });
  });
}

/** One inline command to a test's Redis; resolves with the reply text. */
export function redisCommand(port, line) {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1');
    let buf = '';
    c.setTimeout(2000, () => { c.destroy(); reject(new Error(`redis ${line}: timeout`)); });
    c.on('error', reject);
    c.on('connect', () => c.write(`${line}\r\n`));
    c.on('data', (d) => {
      buf += d;
      const m = /^\$(\d+)\r\n/.exec(buf);
      if (buf.startsWith('+') || buf.startsWith('-') || (m && buf.length >= m[0].length + Number(m[1]))) { c.end(); resolve(buf); }
    });
  });
}

/** Starts redis-server; returns {port, url, stop(signal), restart()}. */
export async function startRedis() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-redis-'));
  const port = await freePort();
  let proc;
  const launch = async () => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1',
      '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', ''],
    { stdio: ['ignore', 'ignore', 'pipe'] });
    await waitFor(() => ping(port), { timeoutMs: 10000, what: `redis-server on ${port}` });
  };
  await launch();
  const exited = () => proc.exitCode !== null || proc.signalCode !== null;
  const redis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop(signal = 'SIGTERM') {
      if (!exited()) {
        const done = new Promise((r) => proc.once('exit', r));
        proc.kill(signal);
        await done;
      }
    },
    async start() { await launch(); },
    async restart() { await redis.stop('SIGKILL'); await launch(); },
    async cleanup() { await redis.stop('SIGKILL'); fs.rmSync(dir, { recursive: true, force: true }); },
  };
  process.on('exit', () => { try { proc.kill('SIGKILL'); } catch { /* gone */ } fs.rmSync(dir, { recursive: true, force: true }); });
  return redis;
}

/** n metered-server nodes n1..nN on one Redis. */
export async function startNodes(redis, n, extraArgs = []) {
  const nodes = [];
  for (let i = 1; i <= n; i++)
    nodes.push(await startServer({ args: ['--cluster', redis.url, '--node-id', `n${i}`, ...extraArgs] }));
  return nodes;
}

/** A raw socket's presence view of channel: snapshot + deltas, in order. */
export function presenceView(sock, channel) {
  const members = new Set();
  const log = [];
  for (const f of sock.json()) {
    if (f.type !== 'presence' || f.channel !== channel) continue;
    for (const e of f.joined) { members.add(e.peerId); log.push(`+${e.peerId}`); }
    for (const e of f.left) { members.delete(e.peerId); log.push(`-${e.peerId}`); }
  }
  return { members: [...members].sort(), log };
}

/** Subscribe a raw socket; resolves once the ack and the snapshot are in. */
export async function subscribe(sock, channel, rid) {
  sock.send({ type: 'subscribe', channel, requestId: rid });
  await sock.waitFrame((f) => f.type === 'ack' && f.requestId === rid, { what: `ack ${rid}`, advance: false });
  await sock.waitFrame((f) => f.type === 'presence' && f.channel === channel, { what: `snapshot of ${channel}`, advance: false });
}

/** The messages of channel a raw socket got, in order. */
export const messages = (sock, channel) => sock.json().filter((f) => f.type === 'message' && f.channel === channel);

export { sleep, waitFor };
