// gst-metered — LGPL-2.1-or-later
//
// Shared pieces of the fault matrix (issue 8): a TCP proxy that can cut,
// refuse or blackhole the signalling socket, a token URL whose answers a
// row scripts, JWTs, the media path cut, meteredsrc-tool with timestamped
// events, and the outcome table every driver prints at the end.
//
// The elements, metered-server, the SDK and Chromium are the real ones;
// the helpers of tests/js/lib, tests/src/src-lib.cjs are reused.

import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';

import { startServer, admin, writeKeysFile, sleep } from '../js/lib/server.mjs';
import { makeClient, signJwt, nowSec, cleanupAll } from '../js/lib/sdk.mjs';

const require = createRequire(import.meta.url);
const interop = require('../js/lib/interop.cjs');
const srcLib = require('../src/src-lib.cjs');

export const { log, ts, checkNamespace, requireEnv } = interop;
export { startServer, admin, writeKeysFile, sleep, makeClient, signJwt, nowSec, cleanupAll };
export const { startSink, padSummary } = srcLib;

// Polls fn every 100 ms until truthy; throws "timed out ... what" after s.
export async function until(fn, s, what) {
  return srcLib.waitFor(fn, s * 1000, what);
}

// A JWT of the dev app (kid dev), every channel unless told otherwise.
export function jwt(sub, { ttl = 900, channels = ['**'], secret, kid } = {}) {
  const claims = { sub, exp: nowSec() + ttl };
  if (channels) claims.channels = channels;
  return signJwt(claims, { ...(secret ? { secret } : {}), ...(kid ? { kid } : {}) });
}

// TCP proxy in front of metered-server: forward, cut (close every current
// connection), refuse (close new ones at once) or blackhole (stop
// forwarding without closing, for old and new connections).
export class TcpProxy {
  constructor(upstreamPort) {
    this.upstreamPort = upstreamPort;
    this.mode = 'forward';
    this.pairs = new Set();
    this.accepted = 0;
    this.server = net.createServer((c) => this.#accept(c));
  }

  async listen() {
    await new Promise((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = this.server.address().port;
    return this.port;
  }

  #accept(client) {
    this.accepted++;
    client.on('error', () => {});
    if (this.mode === 'refuse') {
      client.destroy();
      return;
    }
    const up = net.connect(this.upstreamPort, '127.0.0.1');
    up.on('error', () => client.destroy());
    client.on('error', () => up.destroy());
    const pair = { client, up };
    this.pairs.add(pair);
    const close = () => {
      this.pairs.delete(pair);
      client.destroy();
      up.destroy();
    };
    client.on('close', close);
    up.on('close', close);
    client.on('data', (d) => { if (this.mode !== 'blackhole') up.write(d); });
    up.on('data', (d) => { if (this.mode !== 'blackhole') client.write(d); });
  }

  // Closes every connection (a FIN to both ends), then applies mode.
  cut(mode = 'refuse') {
    this.mode = mode;
    for (const p of [...this.pairs]) {
      p.client.destroy();
      p.up.destroy();
    }
  }

  setMode(mode) { this.mode = mode; }

  async close() {
    this.cut('refuse');
    await new Promise((r) => this.server.close(r));
  }
}

// A token URL: answer(n) returns {status, body} for the n-th request (1-based).
export async function tokenServer(answer) {
  const ts = { hits: 0 };
  ts.server = http.createServer((req, res) => {
    ts.hits++;
    const a = answer(ts.hits);
    res.writeHead(a.status, { 'content-type': 'text/plain' });
    res.end(a.body || '');
  });
  await new Promise((r) => ts.server.listen(0, '127.0.0.1', r));
  ts.url = `http://127.0.0.1:${ts.server.address().port}/token`;
  ts.close = () => new Promise((r) => ts.server.close(r));
  return ts;
}

// The media path cut and IPv4-only namespace (tests/js/lib/interop.cjs).
export const { mediaCut, ipv4Only } = interop;

// meteredsrc-tool (tests/src/src-lib.cjs) whose events carry the time
// they arrived (e.at, ms), plus bus helpers.
export function startSrc(tool, props, name) {
  const t = srcLib.startTool(tool, ['--', ...props], name);
  const push = t.events.push.bind(t.events);
  t.events.push = (e) => { e.at = Date.now(); return push(e); };
  t.bus = (name, re = null) => t.events.filter((e) => e.event === 'bus' && e.name === name &&
    (!re || re.test(e.structure)));
  t.errors = () => t.events.filter((e) => e.event === 'error');
  t.mark = () => t.events.length;
  t.since = (m) => t.events.slice(m);
  return t;
}

export const closeCode = (e) => {
  const m = /close-code=\(int\)(-?\d+)/.exec(e.structure);
  return m ? +m[1] : null;
};
export const willReconnect = (e) => /will-reconnect=\(boolean\)true/.test(e.structure);

// Samples a pad's idle time while a fault is on: the longest stretch with
// no buffer, in ms.
export function idleWatch(t, pad) {
  const w = { max: 0 };
  w.timer = setInterval(() => {
    const p = t.pad(pad);
    if (p && p.idleMs > w.max) w.max = p.idleMs;
  }, 100);
  w.stop = () => { clearInterval(w.timer); return w.max; };
  return w;
}

// The outcome table.
export class Outcomes {
  constructor(group) {
    this.group = group;
    this.rows = [];
  }

  async run(scenario, fn) {
    // FAULTS_ROWS=regexp runs only the matching rows (for debugging).
    if (process.env.FAULTS_ROWS && !new RegExp(process.env.FAULTS_ROWS).test(scenario)) return;
    log(`==== ${scenario}`);
    const t0 = Date.now();
    try {
      const seen = await fn();
      this.rows.push({ scenario, outcome: 'PASS', seen, s: (Date.now() - t0) / 1000 });
      log(`==== PASS ${scenario}: ${seen}`);
    } catch (e) {
      const msg = String(e && e.message || e).split('\n')[0];
      this.rows.push({ scenario, outcome: 'FAIL', seen: msg, s: (Date.now() - t0) / 1000 });
      console.error(`${ts()} FAIL ${scenario}: ${e && e.stack || e}`);
    }
  }

  print() {
    const w = Math.max(8, ...this.rows.map((r) => r.scenario.length));
    const lines = [`fault matrix (${this.group}):`,
      `| ${'scenario'.padEnd(w)} | outcome | time | what was seen |`,
      `|${'-'.repeat(w + 2)}|---------|------|---------------|`];
    for (const r of this.rows) {
      lines.push(`| ${r.scenario.padEnd(w)} | ${r.outcome.padEnd(7)} | ${r.s.toFixed(0).padStart(3)} s | ${r.seen} |`);
    }
    console.log(lines.join('\n'));
    return this.rows.every((r) => r.outcome === 'PASS');
  }
}

// Runs main() under an overall time guard; exit 0 only when every row passed.
export function runDriver(limitS, main, cleanup = async () => {}) {
  const guard = setTimeout(async () => {
    console.error(`${ts()} FAIL: overall time limit (${limitS} s) reached`);
    await cleanup().catch(() => {});
    process.exit(1);
  }, limitS * 1000);
  main().then(async (ok) => {
    clearTimeout(guard);
    await cleanup().catch(() => {});
    process.exit(ok ? 0 : 1);
  }, async (e) => {
    console.error(`${ts()} FAIL: ${e && e.stack || e}`);
    await cleanup().catch(() => {});
    process.exit(1);
  });
}
