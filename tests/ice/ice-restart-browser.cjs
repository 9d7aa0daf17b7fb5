// gst-metered — LGPL-2.1-or-later
//
// Chromium's pc.restartIce() answered with a real ICE restart on the
// existing webrtcbin (issue 14), inside netns-run.sh's namespace, real
// metered-server, the real SDK in headless Chromium, MeteredSession (the
// peer layer both elements use) in metered-peer-tool:
//   offerer:  the C side sends (it offers first, as meteredsink does), the
//             browser receives;
//   answerer: the browser sends (it offers, the C side answers, as with
//             meteredsrc), the C side receives and decodes.
// After restartIce() the browser must reach `stable` on the same
// RTCPeerConnection with new local and remote ICE credentials, its
// transport's dtlsState must stay `connected` throughout (sampled every
// 20 ms: a new DTLS handshake passes through `connecting`), the selected
// candidate pair must change (Chromium's restart gathers new ports), the C
// side must not swap connections, and >= 30 more frames must be decoded at
// the receiver afterwards. The C side reports one ice-restart (initiator
// remote) and its remote peer goes connected -> reconnecting -> connected.
//
// argv: path to metered-peer-tool.
'use strict';

const { spawn } = require('child_process');
const { log, openPage } = require('../js/lib/interop.cjs');
const { mint, waitFor, trackTool, runMain } = require('./ice-lib.cjs');

const WAIT_S = 25;

// The browser's one RTCPeerConnection to the C side, as ICE and DTLS see it.
const snapshot = (page) => page.evaluate(async () => {
  const rp = window.peer.remotePeers[0];
  if (!rp || !rp.pc) return null;
  const pc = rp.pc;
  const ufrag = (d) => d && (/a=ice-ufrag:(\S+)/.exec(d.sdp) || [])[1];
  const out = { sig: pc.signalingState, conn: pc.connectionState,
    local: ufrag(pc.currentLocalDescription), remote: ufrag(pc.currentRemoteDescription),
    same: window.__icePc === pc, decoded: 0, dtls: null, pairChanges: null, pair: null };
  const report = await pc.getStats();
  report.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') out.decoded = s.framesDecoded || 0;
    if (s.type === 'transport') {
      out.dtls = s.dtlsState;
      out.pairChanges = s.selectedCandidatePairChanges;
      out.pair = s.selectedCandidatePairId;
    }
  });
  return out;
});

async function scenario(ctx, exe, tool, port, role) {
  const browserSends = role === 'answerer';
  const channel = `ice-restart-${role}-${process.pid}`;
  log(`--- C side as ${role}`);
  const base = `http://127.0.0.1:${port}/page.html?channel=${channel}`;
  const page = await openPage(ctx, base, `browser-${role}`,
    `${browserSends ? '&send=1' : ''}&token=${mint(exe, 'm-browser')}`);
  const gst = trackTool(spawn(tool, ['--url', `ws://127.0.0.1:${port}`, '--token', mint(exe, 'a-gst'),
    '--channel', channel, ...(browserSends ? ['--recv', '--decode'] : ['--send']),
    '--duration', '55', '--status-ms', '100'], { stdio: ['ignore', 'pipe', 'pipe'] }), 'gst');
  const received = async () => (browserSends ? (gst.status ? gst.status.framesDecoded : 0)
    : ((await snapshot(page)) || { decoded: 0 }).decoded);
  try {
    await waitFor('media before the restart', async () => {
      const s = await snapshot(page);
      return s && s.sig === 'stable' && s.dtls === 'connected' && (await received()) >= 30;
    }, WAIT_S);
    const before = await page.evaluate(() => {
      const pc = window.__icePc = window.peer.remotePeers[0].pc;
      // Every DTLS state the transport goes through from now on.
      window.__dtls = [];
      window.__dtlsTimer = setInterval(async () => {
        (await pc.getStats()).forEach((s) => { if (s.type === 'transport') window.__dtls.push(s.dtlsState); });
      }, 20);
      return true;
    }) && await snapshot(page);
    const swapsBefore = gst.events.filter((e) => e.event === 'connection-swapped').length;
    log(`before: ${JSON.stringify(before)}`);

    await page.evaluate(() => window.__icePc.restartIce());
    const after = await waitFor('restart answered (stable, new credentials both ways)', async () => {
      const s = await snapshot(page);
      return s && s.sig === 'stable' && s.local !== before.local && s.remote !== before.remote && s;
    }, 15);
    log(`answered: ${JSON.stringify(after)}`);
    const count0 = await received();
    const moved = await waitFor('selected pair changed and >= 30 frames after the restart', async () => {
      const s = await snapshot(page);
      return s && s.pairChanges > before.pairChanges && (await received()) >= count0 + 30 && s;
    }, WAIT_S);
    const dtls = await page.evaluate(() => { clearInterval(window.__dtlsTimer); return window.__dtls; });
    log(`after: ${JSON.stringify(moved)}; ${dtls.length} DTLS samples`);
    const problems = [];
    if (!moved.same) problems.push('the browser has a new RTCPeerConnection');
    if (dtls.length < 10 || dtls.some((d) => d !== 'connected')) {
      problems.push(`the DTLS transport left connected: ${[...new Set(dtls)].join(',')} over ${dtls.length} samples`);
    }
    const swaps = gst.events.filter((e) => e.event === 'connection-swapped').length;
    if (swaps !== swapsBefore) problems.push(`the C side swapped its connection (${swaps - swapsBefore})`);
    // The application's view: an ice-restart from the remote, and the
    // remote peer reconnecting -> connected around it.
    const restarts = gst.events.filter((e) => e.event === 'ice-restart');
    if (restarts.length !== 1 || restarts[0].initiator !== 'remote') {
      problems.push(`C side ice-restart events ${JSON.stringify(restarts)}: expected one from the remote`);
    }
    await waitFor('the remote peer connected again', async () =>
      gst.events.filter((e) => e.event === 'peer-state').map((e) => e.to).join(' ')
        .endsWith('connected reconnecting connected'), 5).catch((e) => problems.push(
      `${e.message}: peer states ${gst.events.filter((x) => x.event === 'peer-state').map((x) => x.to).join(' -> ')}`));
    const errs = await page.evaluate(() => window.interop.errors);
    if (errs.length) problems.push(`page errors: ${errs.join(' | ')}`);
    if (gst.events.some((e) => e.event === 'error')) problems.push('C side error');
    if (problems.length) throw new Error(problems.join('\n'));
    log(`PASS ${role}: same RTCPeerConnection and DTLS session, ufrag ${before.remote} -> ${moved.remote}`);
  } catch (e) {
    e.message += `\nbrowser ${JSON.stringify(await snapshot(page).catch(() => null))}` +
      `\ngst status ${JSON.stringify(gst.status)}\ngst output tail:\n${gst.output.slice(-4000)}`;
    throw e;
  } finally {
    gst.child.kill('SIGTERM');
    await gst.exited;
    await page.close();
  }
}

runMain('ice restart <- browser', 110, [], async (ctx, port, exe, tool) => {
  const only = process.env.METERED_ICE_ROLE;
  for (const role of ['offerer', 'answerer']) {
    if (!only || only === role) await scenario(ctx, exe, tool, port, role);
  }
});
