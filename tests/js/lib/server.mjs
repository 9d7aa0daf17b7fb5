// Shared helpers for the Node-side tests (SDK conformance suite and browser
// tests): start/stop/restart a metered-server, call its admin API, mint JWTs,
// and wait on conditions with bounded polling.
//
// The server binary comes from $METERED_SERVER (meson's js_env sets it).
// Every server started here binds 127.0.0.1 (the server's default; we pass
// --host 127.0.0.1 explicitly unless the caller gives its own --host).

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const DEV_KEY = 'pk_dev_local';
export const DEV_SECRET = 'sk_dev_local';
export const DEV_KID = 'dev';
export const DEV_APP = 'dev';
export const ADMIN_TOKEN = 'admin_dev_local';

const live = new Set();
process.on('exit', () => {
  for (const p of live) {
    try { p.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

export function serverBinary() {
  const bin = process.env.METERED_SERVER;
  if (!bin) throw new Error('METERED_SERVER is not set (path to the metered-server binary)');
  if (!fs.existsSync(bin)) throw new Error(`METERED_SERVER=${bin} does not exist`);
  return bin;
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Poll `predicate` (sync or async) until it returns a truthy value; return
 * that value. Throws after timeoutMs with a message naming `what`.
 */
export async function waitFor(predicate, { timeoutMs = 10000, intervalMs = 20, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastErr;
  for (let i = 0; ; i++) {
    try {
      const v = await predicate();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() >= deadline) {
      const extra = lastErr ? ` (last error: ${lastErr && lastErr.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${extra}`);
    }
    await sleep(Math.min(intervalMs * (i < 10 ? 1 : 2), 200));
  }
}

// Split "--flag value" / "--flag=value" / "--switch" lists into a map so that
// caller args override our defaults instead of being passed twice.
const SWITCHES = new Set(['--dev', '--verbose']);
function parseArgs(list) {
  const out = [];
  for (let i = 0; i < list.length; i++) {
    const a = String(list[i]);
    if (a.startsWith('--') && a.includes('=')) {
      const k = a.slice(0, a.indexOf('='));
      out.push([k, [a]]);
    } else if (a.startsWith('--') && !SWITCHES.has(a) && i + 1 < list.length && !String(list[i + 1]).startsWith('--')) {
      out.push([a, [a, String(list[i + 1])]]);
      i++;
    } else {
      out.push([a, [a]]);
    }
  }
  return out;
}

function mergeArgs(defaults, overrides) {
  const o = parseArgs(overrides);
  const overridden = new Set(o.map(([k]) => k));
  const d = parseArgs(defaults).filter(([k]) => !overridden.has(k));
  return [...d, ...o].flatMap(([, v]) => v);
}

function readPort(file) {
  try {
    const t = fs.readFileSync(file, 'utf8').trim();
    if (/^\d+$/.test(t) && Number(t) > 0) return Number(t);
  } catch { /* not yet */ }
  return 0;
}

async function launch(state) {
  const bin = serverBinary();
  try { fs.unlinkSync(state.portFile); } catch { /* none */ }
  const defaults = ['--host', '127.0.0.1', '--port', '0', '--port-file', state.portFile, '--ip-connect-limit', '0'];
  if (state.dev) defaults.push('--dev');
  const args = mergeArgs(defaults, state.args);
  state.argv = args;
  const proc = spawn(bin, args, {
    env: { ...process.env, ...state.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stdout.on('data', (d) => { out += d; if (out.length > 4e6) out = out.slice(-2e6); });
  proc.stderr.on('data', (d) => { err += d; if (err.length > 4e6) err = err.slice(-2e6); });
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      live.delete(proc);
      resolve({ code, signal });
    });
  });
  let exitInfo = null;
  exited.then((x) => { exitInfo = x; });
  proc.on('error', () => { /* reported through exit/port wait */ });
  state.proc = proc;
  state.exited = exited;
  state.out = () => out;
  state.err = () => err;
  state.exitInfo = () => exitInfo;

  const deadline = Date.now() + 10000;
  for (;;) {
    const p = readPort(state.portFile);
    if (p) return p;
    if (exitInfo) {
      throw new Error(`metered-server exited before listening (code ${exitInfo.code}, signal ${exitInfo.signal})\n` +
        `argv: ${args.join(' ')}\nstdout:\n${out}\nstderr:\n${err}`);
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`metered-server did not write its port file within 10 s\nargv: ${args.join(' ')}\n` +
        `stdout:\n${out}\nstderr:\n${err}`);
    }
    await sleep(20);
  }
}

/**
 * Start a metered-server.
 *   args: extra CLI args; they override our defaults (--port 0 --port-file F
 *         --dev --ip-connect-limit 0 --host 127.0.0.1), e.g. ['--ip-connect-limit', '5'].
 *   env:  extra environment.
 *   dev:  pass --dev (default true).
 */
export async function startServer({ args = [], env = {}, dev = true } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-srv-'));
  const state = {
    args: [...args], env: { ...env }, dev,
    portFile: path.join(dir, 'port'), dir,
  };
  const port = await launch(state);

  const srv = {
    port,
    url: `ws://127.0.0.1:${port}`,
    http: `http://127.0.0.1:${port}`,
    get proc() { return state.proc; },
    get argv() { return state.argv; },
    stdout: () => state.out(),
    stderr: () => state.err(),
    alive: () => state.exitInfo() === null,
    /** {code, signal} once the current process has exited, else null. */
    exitInfo: () => state.exitInfo(),
    /** Signal the server and wait (≤ timeoutMs, then SIGKILL) for it to exit; returns the exit code (or the signal name). */
    async stop(signal = 'SIGTERM', { timeoutMs = 10000 } = {}) {
      if (state.exitInfo() === null) {
        try { state.proc.kill(signal); } catch { /* gone */ }
        const t = setTimeout(() => { try { state.proc.kill('SIGKILL'); } catch { /* gone */ } }, timeoutMs);
        await state.exited;
        clearTimeout(t);
      }
      const x = state.exitInfo();
      return x.code !== null ? x.code : x.signal;
    },
    /** Wait for the current process to exit by itself. */
    async waitExit({ timeoutMs = 10000 } = {}) {
      await waitFor(() => state.exitInfo() !== null, { timeoutMs, what: 'metered-server exit' });
      const x = state.exitInfo();
      return x.code !== null ? x.code : x.signal;
    },
    /** Start again on the same port (stopping the old process first if it is still running). */
    async restart({ timeoutMs = 10000 } = {}) {
      if (state.exitInfo() === null) await srv.stop('SIGTERM');
      state.args = mergeArgs(state.args, ['--port', String(port)]);
      const deadline = Date.now() + timeoutMs;
      for (let attempt = 0; ; attempt++) {
        try {
          const p = await launch(state);
          if (p !== port) throw new Error(`restarted server bound ${p}, expected ${port}`);
          return srv;
        } catch (e) {
          if (Date.now() > deadline || attempt > 50) throw e;
          await sleep(200); // e.g. the port is briefly still in use
        }
      }
    },
  };
  return srv;
}

/**
 * Call the admin API. Returns {status, text, json}. `token` defaults to the
 * dev admin token; pass token:null for an unauthenticated call.
 */
export async function admin(srv, method, urlPath, { token = ADMIN_TOKEN, body } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(srv.http + urlPath, {
    method,
    headers,
    body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
    signal: AbortSignal.timeout(10000),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, text, json };
}

/** GET /metrics parsed into {"name{labels}": value}. */
export async function metrics(srv) {
  const res = await fetch(srv.http + '/metrics', { signal: AbortSignal.timeout(10000) });
  const text = await res.text();
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^(\S+?(?:\{[^}]*\})?)\s+(\S+)/.exec(line);
    if (m) out[m[1].replace(/\s+/g, '')] = Number(m[2]);
  }
  return out;
}

/**
 * Mint a JWT with `metered-server --mint-token`.
 *   sub, channels (array or comma string), ttl (seconds),
 *   permissions (array or comma string), peerMetadata / metadata (objects or
 *   JSON strings), keys (keys file) + kid, dev (default true unless keys is given).
 * Accepts the options object, or positional (sub, channels, ttl).
 */
export function mintToken(opts, channelsArg, ttlArg) {
  if (typeof opts === 'string') opts = { sub: opts, channels: channelsArg, ttl: ttlArg };
  const { sub, channels, ttl = 3600, permissions, peerMetadata, metadata, keys, kid, dev = !keys, extra = [] } = opts;
  const args = ['--mint-token'];
  if (dev) args.push('--dev');
  if (keys) args.push('--keys', keys);
  if (kid) args.push('--kid', kid);
  if (sub !== undefined) args.push('--sub', String(sub));
  if (channels !== undefined) args.push('--channels', Array.isArray(channels) ? channels.join(',') : String(channels));
  if (ttl !== undefined) args.push('--ttl', String(ttl));
  if (permissions !== undefined) args.push('--permissions', Array.isArray(permissions) ? permissions.join(',') : String(permissions));
  if (peerMetadata !== undefined) args.push('--peer-metadata', typeof peerMetadata === 'string' ? peerMetadata : JSON.stringify(peerMetadata));
  if (metadata !== undefined) args.push('--metadata', typeof metadata === 'string' ? metadata : JSON.stringify(metadata));
  args.push(...extra);
  const out = execFileSync(serverBinary(), args, { encoding: 'utf8', timeout: 10000, stdio: ['ignore', 'pipe', 'pipe'] });
  const tok = out.trim();
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(tok)) {
    throw new Error(`--mint-token printed something that is not a JWT: ${JSON.stringify(out)}`);
  }
  return tok;
}

/** Decode a JWT's payload (no verification). */
export function jwtClaims(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

/** Write a keys file to a temp dir; returns its path. */
export function writeKeysFile(obj) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-keys-'));
  const file = path.join(dir, 'keys.json');
  fs.writeFileSync(file, typeof obj === 'string' ? obj : JSON.stringify(obj, null, 2));
  return file;
}
