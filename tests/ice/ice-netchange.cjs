// gst-metered — LGPL-2.1-or-later
//
// The sending box's address changes (issue 14): metered-peer-tool (the
// box, MeteredSession as both elements use it) in its own namespace sends
// to Chromium with the real SDK, its signalling and media across the veth
// (ice-lib.cjs). Once the browser decodes, the box's address is removed
// (`ip addr del 10.99.0.2/24 dev v1`) and a new one added a second later
// (10.99.0.3/24), as a DHCP renew or a modem change would. Nobody tells
// the box: its GNetworkMonitor (netlink) sees both changes, and the
// session's watch (watch-network, on by default) drops the signalling
// socket that still looks connected, reconnects at once and swaps the
// connection whose local address is gone.
// Passes when the browser decodes >= 30 new frames within
// METERED_ICE_RECOVER_S (30 s) of the new address, the box's signalling
// went through reconnecting (its socket was dropped, not left to time
// out) and it swapped its connection, with no error on either side and
// no EOS (the tool keeps running). Prints the time from the new address
// to the first new decoded frame and what recovered it; with
// METERED_ICE_JSON=1 one JSON line (bench/ice-restart.sh). Figures are
// printed, never asserted (timing belongs in bench/).
//
// argv: path to metered-peer-tool.
'use strict';

const { execFileSync } = require('child_process');
const { log, openPage } = require('../js/lib/interop.cjs');
const {
  mint, sleep, waitFor, runMain, startBox, ipv4OnlyA, SHARED_SERVER,
} = require('./ice-lib.cjs');

const RECOVER_S = Number(process.env.METERED_ICE_RECOVER_S || 30);
const FPS = 30;

// Frames the browser decoded from the box: on the connection it had
// before the change (same) and on any connection since (new ones start
// from 0).
const browserState = (page) => page.evaluate(async () => {
  const out = { old: 0, fresh: 0, pcs: 0 };
  for (const rp of window.peer.remotePeers) {
    if (!rp || !rp.pc) continue;
    out.pcs++;
    let decoded = 0;
    (await rp.pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') decoded = s.framesDecoded || 0;
    });
    if (rp.pc === window.__netPc) out.old = decoded;
    else out.fresh = Math.max(out.fresh, decoded);
  }
  return out;
});

// ip in the box's namespace (unshare's process is the namespace's first).
const boxIp = (box, ...args) => execFileSync('nsenter',
  ['-t', String(box.child.pid), '-n', 'ip', ...args], { timeout: 5000 });

async function netchange(ctx, exe, tool, port) {
  const channel = `ice-netchange-${process.pid}`;
  const page = await openPage(ctx, `http://127.0.0.1:${port}/page.html?channel=${channel}`,
    'browser', `&token=${mint(exe, 'm-browser')}`);
  const box = await startBox(tool, ['--token', mint(exe, 'z-box'), '--channel', channel,
    '--send', '--duration', '600', '--status-ms', '50'], port);
  try {
    await waitFor('media before the change', async () => {
      const ok = await page.evaluate(() => {
        const rp = window.peer.remotePeers[0];
        if (!rp || !rp.pc) return false;
        window.__netPc = rp.pc;
        return true;
      });
      return ok && (await browserState(page)).old >= 30;
    }, 25);
    const events0 = box.events.length;
    const n0 = (await browserState(page)).old;
    const tDel = Date.now();
    boxIp(box, 'addr', 'del', '10.99.0.2/24', 'dev', 'v1');
    await sleep(1000);
    const nDuring = (await browserState(page)).old - n0;
    boxIp(box, 'addr', 'add', '10.99.0.3/24', 'dev', 'v1');
    const tNew = Date.now();
    const start = await browserState(page);
    let tFirst = 0;
    await waitFor('frames after the new address', async () => {
      const s = await browserState(page);
      const got = Math.max(s.old - start.old, s.fresh - start.fresh);
      if (!tFirst && got > 0) tFirst = Date.now();
      return got >= 30;
    }, RECOVER_S);
    const ev = box.events.slice(events0);
    const swaps = ev.filter((e) => e.event === 'connection-swapped').length;
    const restarts = ev.filter((e) => e.event === 'ice-restart').length;
    const reconnecting = ev.some((e) => e.event === 'session-state' && e.to === 'reconnecting');
    const end = await browserState(page);
    const r = {
      dir: 'address-change', cut: 1, recoverMs: tFirst - tNew,
      lost: Math.max(0, Math.round((tFirst - tDel) * FPS / 1000) - nDuring),
      how: swaps || end.fresh > 0 ? 'swap' : restarts ? 'restart' : 'none',
      restarts, swaps, samePc: end.fresh === 0,
    };
    log(`address change: first frame ${r.recoverMs} ms after the new address, ` +
      `~${r.lost} frames lost, recovered by ${r.how} (box: ${swaps} swap(s), ` +
      `signalling reconnecting ${reconnecting})`);
    if (process.env.METERED_ICE_JSON) console.log(`ICE-RESULT ${JSON.stringify(r)}`);
    const problems = [];
    if (!reconnecting) problems.push('the box signalling never went reconnecting');
    if (!swaps) problems.push('the box did not swap its connection');
    const errs = await page.evaluate(() => window.interop.errors);
    if (errs.length) problems.push(`page errors: ${errs.join(' | ')}`);
    const boxErrors = box.events.filter((e) => e.event === 'error');
    if (boxErrors.length) problems.push(`box errors ${JSON.stringify(boxErrors)}`);
    if (box.child.exitCode !== null) problems.push(`the box exited (${box.child.exitCode})`);
    if (problems.length) throw new Error(problems.join('\n'));
    if (process.env.METERED_ICE_DEBUG) console.error(box.output);
  } catch (e) {
    e.message += `\nbrowser ${JSON.stringify(await browserState(page).catch(() => null))}` +
      `\nbox status ${JSON.stringify(box.status)}\nbox output tail:\n${box.output.slice(-4000)}`;
    throw e;
  } finally {
    box.child.kill('SIGTERM');
    await box.exited;
    await page.close();
  }
}

runMain('ice netchange', Number(process.env.METERED_ICE_LIMIT_S || 100), SHARED_SERVER,
  async (ctx, port, exe, tool) => {
    ipv4OnlyA();
    await netchange(ctx, exe, tool, port);
  });
