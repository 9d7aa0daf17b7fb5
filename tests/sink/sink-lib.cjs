// gst-metered — LGPL-2.1-or-later
//
// Shared pieces of the meteredsink interop tests: metered-sink-tool as a
// child process (its JSON status and bus events), viewer pages and their
// decoded-frame counters, the admin API and tokens.
'use strict';

const { spawn, execFileSync } = require('child_process');
const { log } = require('../js/lib/interop.cjs');

function mint(exe, sub) {
  return execFileSync(exe, ['--mint-token', '--dev', '--sub', sub, '--ttl', '3600'])
    .toString().trim();
}

async function admin(port, method, p) {
  const r = await fetch(`http://127.0.0.1:${port}${p}`, {
    method, headers: { Authorization: 'Bearer admin_dev_local' },
  });
  return r.status;
}

// Runs metered-sink-tool; keeps its latest status and every other event.
function startTool(tool, args) {
  const child = spawn(tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const t = { child, status: null, events: [], errors: [], output: '' };
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        const e = JSON.parse(line);
        if (e.event === 'status') {
          t.status = e;
        } else {
          t.events.push(e);
          if (e.event === 'error') t.errors.push(e);
          log(`[gst] ${line}`);
        }
      } catch (_) {
        t.output = (t.output + line + '\n').slice(-20000);
      }
    }
  });
  child.stderr.on('data', (d) => { t.output = (t.output + d.toString()).slice(-20000); });
  t.exited = new Promise((r) => child.on('close', (code, signal) => r({ code, signal })));
  return t;
}

async function stopTool(t) {
  if (!t) return null;
  t.child.kill('SIGTERM');
  const timer = setTimeout(() => t.child.kill('SIGKILL'), 15000);
  const exit = await t.exited;
  clearTimeout(timer);
  return exit;
}

// Frames a viewer page decoded, summed over its remote peers (a rebuilt
// connection starts its counter again).
async function decoded(page) {
  const stats = await page.evaluate(() => window.interop.stats());
  return Object.values(stats).reduce((a, r) => a + (r.framesDecoded || 0), 0);
}

async function streamAdded(page) {
  const events = await page.evaluate(() => window.interop.events);
  return events.filter((e) => e.name === 'stream-added');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls check() every 200 ms until it returns true; throws what() after s.
async function waitFor(what, s, check) {
  const deadline = Date.now() + s * 1000;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out (${s} s) waiting for ${typeof what === 'function' ? await what() : what}`);
    await sleep(200);
  }
}

// Watches viewer pages until each made `need` frames of progress; returns
// the longest stall of each (ms). Progress is any change to a non-zero
// total (a new connection restarts the counter).
async function progress(pages, need, s, label) {
  const t0 = Date.now();
  const st = [];
  for (const p of pages) st.push({ last: await decoded(p), got: 0, at: t0, stall: 0 });
  for (;;) {
    await sleep(100);
    const now = Date.now();
    for (let i = 0; i < pages.length; i++) {
      const d = await decoded(pages[i]);
      const v = st[i];
      if (d !== v.last && d > 0) {
        v.stall = Math.max(v.stall, now - v.at);
        v.got += d > v.last ? d - v.last : d;
        v.last = d;
        v.at = now;
      }
    }
    if (st.every((v) => v.got >= need)) return st.map((v) => v.stall);
    if (now - t0 > s * 1000) {
      throw new Error(`${label}: viewers did not decode ${need} more frames within ${s} s ` +
        `(progress ${st.map((v) => v.got).join(', ')})`);
    }
  }
}

module.exports = { mint, admin, startTool, stopTool, decoded, streamAdded, sleep, waitFor, progress };
