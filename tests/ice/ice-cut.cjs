// gst-metered — LGPL-2.1-or-later
//
// The box's link cut for real (issue 14): metered-peer-tool (the box,
// MeteredSession as both elements use it) in its own network namespace,
// Chromium with the real SDK and metered-server in the test's, joined by
// the veth pair (ice-lib.cjs). The box's signalling and media both cross
// the link, which is cut (METERED_ICE_CUT: ice-lib.cjs) for each cut (METERED_ICE_CUTS, seconds,
// default "5,15") and put back, in each direction (METERED_ICE_DIRS):
//   to-browser    the box sends (as meteredsink), the browser decodes;
//   from-browser  the browser sends, the box decodes (as meteredsrc); the
//                 box is impolite (peer id z-box > m-browser), so the
//                 restart is its own.
// Passes when, after each cut, the receiver decodes >= 30 new frames
// within METERED_ICE_RECOVER_S (30 s), on the same RTCPeerConnection whose
// DTLS transport stayed `connected` in every 50 ms sample (no new
// handshake), with no swap and no error on either side, and (from-browser)
// the box restarted ICE itself. Prints per cut the time from
// the link coming back to the first new decoded frame, the frames not
// decoded, and what recovered it (restart: ours or the browser's; swap);
// with METERED_ICE_JSON=1 one JSON line each (bench/ice-restart.sh).
// A cut of 30 s or more (CONSENT_S) outlives Chromium's consent to the
// pair: its RTCPeerConnection fails and only signalling brings media back,
// on a socket the cut stalled. There the box's liveness probe reconnects
// the signalling, the browser sees it leave and join and rebuilds, the box
// swaps: such a cut passes on frames from the new RTCPeerConnection within
// METERED_ICE_RECOVER_S, with no error; the same-PC, DTLS, no-swap and
// own-restart checks are for the shorter cuts only (and then the run has
// no shorter cut in it).
// Figures are printed, never asserted (timing belongs in bench/).
//
// argv: path to metered-peer-tool, directions (comma separated; default
// METERED_ICE_DIRS or both), and optionally the cuts and the recovery
// bound in seconds (default METERED_ICE_CUTS and METERED_ICE_RECOVER_S).
'use strict';

const { execFileSync } = require('child_process');
const { log, openPage } = require('../js/lib/interop.cjs');
const {
  mint, sleep, waitFor, runMain, startBox, ipv4OnlyA, linkCut, SHARED_SERVER,
} = require('./ice-lib.cjs');

const CUTS = (process.argv[4] || process.env.METERED_ICE_CUTS || '5,15').split(',').map(Number);
const DIRS = (process.argv[3] || process.env.METERED_ICE_DIRS || 'to-browser,from-browser').split(',');
const RECOVER_S = Number(process.argv[5] || process.env.METERED_ICE_RECOVER_S || 30);
const CONSENT_S = 30;
const SHORT = CUTS.every((c) => c < CONSENT_S);
const FPS = 30;

// The browser's RTCPeerConnection to the box: decoded frames and DTLS.
const browserState = (page) => page.evaluate(async () => {
  const rp = window.peer.remotePeers[0];
  if (!rp || !rp.pc) return null;
  const out = { decoded: 0, dtls: null, same: window.__icePc === rp.pc, conn: rp.pc.connectionState };
  let decoded = 0;
  (await rp.pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') decoded = s.framesDecoded || 0;
    if (s.type === 'transport') out.dtls = s.dtlsState;
  });
  // Counted over every RTCPeerConnection the page had: a rebuilt one
  // (long cuts) starts from 0.
  window.__decoded = window.__decoded || new Map();
  window.__decoded.set(rp.pc, Math.max(decoded, window.__decoded.get(rp.pc) || 0));
  window.__decoded.forEach((n) => { out.decoded += n; });
  return out;
});

async function direction(ctx, exe, tool, port, dir) {
  const toBrowser = dir === 'to-browser';
  const channel = `ice-cut-${dir}-${process.pid}`;
  const base = `http://127.0.0.1:${port}/page.html?channel=${channel}`;
  const page = await openPage(ctx, base, `browser-${dir}`,
    `${toBrowser ? '' : '&send=1'}&token=${mint(exe, 'm-browser')}`);
  const box = await startBox(tool, ['--token', mint(exe, 'z-box'),
    '--channel', channel, ...(toBrowser ? ['--send'] : ['--recv', '--decode']),
    '--duration', '600', '--status-ms', '50'], port);
  const received = async () => (toBrowser ? ((await browserState(page)) || { decoded: 0 }).decoded
    : (box.status ? box.status.framesDecoded : 0));
  const results = [];
  try {
    await waitFor('media before the cuts', async () => {
      const s = await browserState(page);
      return s && s.dtls === 'connected' && (await received()) >= 30;
    }, 25);
    await page.evaluate(() => {
      window.__icePc = window.peer.remotePeers[0].pc;
      window.__dtls = [];
      window.__dtlsTimer = setInterval(async () => {
        // A long cut's rebuild closes this one: nothing more to sample.
        (await window.__icePc.getStats().catch(() => new Map())).forEach((s) => { if (s.type === 'transport') window.__dtls.push(s.dtlsState); });
      }, 50);
    });
    for (const cut of CUTS) {
      const events0 = box.events.length;
      const n0 = await received();
      const tCut = Date.now();
      linkCut(true, box);
      await sleep(cut * 1000);
      const nDuring = (await received()) - n0;
      linkCut(false, box);
      const tBack = Date.now();
      const nBack = await received();
      let tFirst = 0;
      await waitFor(`${dir}: frames after a ${cut} s cut`, async () => {
        const n = await received();
        if (!tFirst && n > nBack) tFirst = Date.now();
        return n >= nBack + 30;
      }, RECOVER_S);
      const ev = box.events.slice(events0);
      const restarts = ev.filter((e) => e.event === 'ice-restart').map((e) => e.initiator);
      const swaps = ev.filter((e) => e.event === 'connection-swapped').length;
      const st = await browserState(page);
      const r = {
        dir, cut, recoverMs: tFirst - tBack,
        lost: Math.max(0, Math.round((tFirst - tCut) * FPS / 1000) - nDuring),
        how: swaps || !st.same ? 'swap' : restarts.length ? `restart(${[...new Set(restarts)].join('+')})` : 'none',
        restarts: restarts.length, swaps, samePc: st.same,
      };
      results.push(r);
      log(`${dir}: ${cut} s cut: first frame ${r.recoverMs} ms after the link came back, ` +
        `~${r.lost} frames lost, recovered by ${r.how}`);
      if (process.env.METERED_ICE_JSON) console.log(`ICE-RESULT ${JSON.stringify(r)}`);
      await sleep(3000);
    }
    const dtls = await page.evaluate(() => { clearInterval(window.__dtlsTimer); return window.__dtls; });
    const problems = [];
    if (!process.env.METERED_NO_ICE_RESTART && SHORT) {
      if (results.some((r) => !r.samePc)) problems.push('the browser rebuilt its RTCPeerConnection');
      if (results.some((r) => r.swaps)) problems.push('the box swapped its connection');
      // The receiving box (impolite) restarts on 2 s of silence.
      if (!toBrowser && results.some((r) => !r.how.includes('local'))) {
        problems.push(`the box did not restart ICE itself: ${JSON.stringify(results)}`);
      }
      if (dtls.some((d) => d !== 'connected')) {
        problems.push(`the DTLS transport left connected: ${[...new Set(dtls)].join(',')}`);
      }
    }
    const errs = await page.evaluate(() => window.interop.errors);
    if (errs.length) problems.push(`page errors: ${errs.join(' | ')}`);
    const boxErrors = box.events.filter((e) => e.event === 'error');
    if (boxErrors.length) problems.push(`box errors ${JSON.stringify(boxErrors)}`);
    if (problems.length) throw new Error(problems.join('\n'));
    if (process.env.METERED_ICE_DEBUG) console.error(box.output);
    return results;
  } catch (e) {
    e.message += `\nbrowser ${JSON.stringify(await browserState(page).catch(() => null))}` +
      `\nbox status ${JSON.stringify(box.status)}\nbox output tail:\n${box.output.slice(-4000)}`;
    throw e;
  } finally {
    linkCut(false, box);
    box.child.kill('SIGTERM');
    await box.exited;
    await page.close();
  }
}

runMain('ice cut', Number(process.env.METERED_ICE_LIMIT_S || 170), SHARED_SERVER,
  async (ctx, port, exe, tool) => {
    ipv4OnlyA();
    for (const dir of DIRS) {
      // Each direction moves v1 into a namespace of its own, whose end
      // takes the veth pair with it (startBox makes it again).
      await direction(ctx, exe, tool, port, dir);
      await waitFor('the box namespace gone', () => {
        try { execFileSync('ip', ['link', 'show', 'v0'], { stdio: 'ignore' }); return false; } catch (_) { return true; }
      }, 10);
    }
  });
