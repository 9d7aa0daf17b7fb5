// gst-metered — LGPL-2.1-or-later
//
// The box's link cut toward another gst element (issue 14): two
// metered-peer-tool processes (MeteredSession, as meteredsink and
// meteredsrc run it), the sending box in its own network namespace with
// its signalling and media on the link (ice-lib.cjs), the receiving one
// beside metered-server in the test's namespace. The link is cut
// (METERED_ICE_CUT: ice-lib.cjs) for each cut (argv[3] or METERED_ICE_CUTS, seconds, default "5,15") and
// put back.
//
// Passes when, after each cut, the receiver decodes >= 30 new frames
// within METERED_ICE_RECOVER_S (30 s), with no error on either side; a
// cut shorter than 30 s must not cost a swap on either side (the pair
// comes back: libnice keeps no consent timer); a longer one may (the
// sending box's probe reconnects its stalled signalling, and the
// receiver rebuilds on its left and joined). Prints per cut the time
// from the link coming back to the first new decoded frame, the frames
// not decoded, and what recovered it; with METERED_ICE_JSON=1 one JSON
// line each with dir "gst-to-gst" (bench/ice-restart.sh). Figures are
// printed, never asserted (timing belongs in bench/).
//
// argv: path to metered-peer-tool, then optionally the cuts.
'use strict';

const { spawn } = require('child_process');
const { log } = require('../js/lib/interop.cjs');
const {
  mint, sleep, waitFor, trackTool, runMain, startBox, ipv4OnlyA, linkCut, SHARED_SERVER,
} = require('./ice-lib.cjs');

// (bench/ice-restart.sh passes the direction name there: not cuts.)
const argCuts = /^[0-9,]+$/.test(process.argv[3] || '') ? process.argv[3] : '';
const CUTS = (argCuts || process.env.METERED_ICE_CUTS || '5,15').split(',').map(Number);
const RECOVER_S = Number(process.env.METERED_ICE_RECOVER_S || 30);
const CONSENT_S = 30;
const FPS = 30;
const DIR = 'gst-to-gst';

async function run(exe, tool, port) {
  const channel = `ice-cut-gst-${process.pid}`;
  const common = ['--channel', channel, '--duration', '600', '--status-ms', '50'];
  const box = await startBox(tool, ['--token', mint(exe, 'z-box'), ...common, '--send'], port);
  const recv = trackTool(spawn(tool, ['--url', `ws://127.0.0.1:${port}`,
    '--token', mint(exe, 'a-recv'), ...common, '--recv', '--decode'],
  { stdio: ['ignore', 'pipe', 'pipe'] }), 'recv');
  const received = () => (recv.status ? recv.status.framesDecoded : 0);
  const results = [];
  try {
    await waitFor('media before the cuts', () => received() >= 30, 25);
    for (const cut of CUTS) {
      const e0 = [box.events.length, recv.events.length];
      const n0 = received();
      const tCut = Date.now();
      linkCut(true, box);
      await sleep(cut * 1000);
      const nDuring = received() - n0;
      linkCut(false, box);
      const tBack = Date.now();
      const nBack = received();
      let tFirst = 0;
      await waitFor(`${DIR}: frames after a ${cut} s cut`, () => {
        const n = received();
        if (!tFirst && n > nBack) tFirst = Date.now();
        return n >= nBack + 30;
      }, RECOVER_S);
      const ev = [...box.events.slice(e0[0]), ...recv.events.slice(e0[1])];
      const restarts = ev.filter((e) => e.event === 'ice-restart').map((e) => e.initiator);
      const swaps = ev.filter((e) => e.event === 'connection-swapped').length;
      const r = {
        dir: DIR, cut, recoverMs: tFirst - tBack,
        lost: Math.max(0, Math.round((tFirst - tCut) * FPS / 1000) - nDuring),
        how: swaps ? 'swap' : restarts.length ? `restart(${[...new Set(restarts)].join('+')})` : 'none',
        restarts: restarts.length, swaps,
      };
      results.push(r);
      log(`${DIR}: ${cut} s cut: first frame ${r.recoverMs} ms after the link came back, ` +
        `~${r.lost} frames lost, recovered by ${r.how}`);
      if (process.env.METERED_ICE_JSON) console.log(`ICE-RESULT ${JSON.stringify(r)}`);
      await sleep(3000);
    }
    const problems = [];
    const shortSwaps = results.filter((r) => r.cut < CONSENT_S && r.swaps);
    if (shortSwaps.length && !process.env.METERED_NO_ICE_RESTART) {
      problems.push(`swapped after a cut the pair survives: ${JSON.stringify(shortSwaps)}`);
    }
    for (const [tag, t] of [['box', box], ['recv', recv]]) {
      const errors = t.events.filter((e) => e.event === 'error');
      if (errors.length) problems.push(`${tag} errors ${JSON.stringify(errors)}`);
    }
    if (problems.length) throw new Error(problems.join('\n'));
    return results;
  } catch (e) {
    e.message += `\nbox status ${JSON.stringify(box.status)}\nrecv status ${JSON.stringify(recv.status)}` +
      `\nbox output tail:\n${box.output.slice(-3000)}\nrecv output tail:\n${recv.output.slice(-3000)}`;
    throw e;
  } finally {
    linkCut(false, box);
    for (const t of [box, recv]) t.child.kill('SIGTERM');
    await Promise.all([box.exited, recv.exited]);
  }
}

runMain('ice cut gst', Number(process.env.METERED_ICE_LIMIT_S || 170), SHARED_SERVER,
  async (ctx, port, exe, tool) => {
    ipv4OnlyA();
    await run(exe, tool, port);
  });
