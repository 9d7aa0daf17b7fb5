// gst-metered — LGPL-2.1-or-later
//
// Fault matrix (issue 8), remote browser reconciles: a real Chromium
// running the real SDK (tests/browser/www/page.html, send=1: the fake
// camera) sends to meteredsrc (meteredsrc-tool, output=encoded into a
// fakesink), through metered-server, inside netns-run.sh's namespace. The
// browser's signalling socket is cut (admin drop, 1011): the SDK
// reconnects, reconciles and offers again from a brand-new
// RTCPeerConnection (protocol §8.9). meteredsrc must take that offer
// (metered/connection-swapped), keep its pad (no EOS, no removal) and
// carry frames again, with no error.
//
// argv: PATH/TO/meteredsrc-tool.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

import {
  log, checkNamespace, requireEnv, startServer, admin, sleep, jwt, startSrc, padSummary, until,
  Outcomes, runDriver,
} from './faults-lib.mjs';

const require = createRequire(import.meta.url);
const { prepareWebRoot, launchChromium, openPage } = require('../js/lib/interop.cjs');

const PAD = 'video_b-alice_camera';
let srv = null;
let ctx = null;
let t = null;
let tmp = null;

async function main() {
  requireEnv('METERED_SERVER');
  requireEnv('GST_PLUGIN_PATH');
  const tool = process.argv[2];
  if (!tool || !fs.existsSync(tool)) throw new Error('usage: faults-browser.mjs PATH/TO/meteredsrc-tool');
  checkNamespace();
  const out = new Outcomes('remote browser');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-faults-browser-'));
  const webRoot = prepareWebRoot(tmp);
  srv = await startServer({ args: ['--web-root', webRoot] });
  ctx = await launchChromium(tmp);
  const channel = `faults-browser-${process.pid}`;
  const page = await openPage(ctx, `http://127.0.0.1:${srv.port}/page.html?channel=${channel}&send=1`,
    'alice', `&token=${encodeURIComponent(jwt('b-alice'))}`);
  t = startSrc(tool, [`url=ws://127.0.0.1:${srv.port}`, `token=${jwt('a-src')}`, `channel=${channel}`,
    'output=encoded', 'reconnect-initial-delay=250', 'reconnect-max-delay=1000'], 'src');
  const frames = () => (t.pad(PAD) ? t.pad(PAD).buffers : 0);
  await until(() => frames() >= 60, 60, `60 frames on ${PAD} ${padSummary(t)}`);

  await out.run('remote browser reconciles', async () => {
    const m = t.mark();
    const ev0 = (await page.evaluate(() => window.interop.events.length));
    const r = await admin(srv, 'POST', '/v1/peers/b-alice/drop?code=1011');
    if (r.status !== 204) throw new Error(`drop b-alice: HTTP ${r.status}`);
    // The SDK's reconcile: reconnecting -> joined again.
    await until(async () => (await page.evaluate(() => window.interop.events)).slice(ev0)
      .some((e) => e.name === 'peer-state' && e.to === 'joined'), 30, 'the browser to rejoin');
    await until(() => t.since(m).some((e) => e.name === 'metered/connection-swapped'), 30,
      'meteredsrc to take the fresh offer (connection-swapped)');
    // The browser's brand-new RTCPeerConnection negotiated with us: its
    // remote peer (meteredsrc) is connected again.
    await until(async () => (await page.evaluate(() => window.interop.events)).slice(ev0)
      .some((e) => e.name === 'remote-state' && e.id === 'a-src' && e.to === 'connected'), 30,
    'the browser\'s new connection to meteredsrc to connect');
    const f0 = frames();
    await until(() => frames() >= f0 + 60, 40, `60 frames after the reconcile ${padSummary(t)}`);
    const p = t.pad(PAD);
    const pageEvents = (await page.evaluate(() => window.interop.events)).slice(ev0);
    const states = pageEvents.filter((e) => e.name === 'peer-state').map((e) => e.to);
    const remote = pageEvents.filter((e) => e.name === 'remote-state' && e.id === 'a-src').map((e) => e.to);
    const offer = /for its new offer/.test(t.output);
    if (t.errors().length) throw new Error(`errors ${JSON.stringify(t.errors())}`);
    if (p.eos || p.removed) throw new Error(`the pad ended ${padSummary(t)}`);
    if (t.since(m).some((e) => e.event === 'pad-removed')) throw new Error('a pad was removed');
    const pageErrors = await page.evaluate(() => window.interop.errors);
    if (pageErrors.length) throw new Error(`browser errors ${pageErrors.join(' | ')}`);
    return `browser ${states.join('->')}, its connection to meteredsrc ${remote.join('->')}; ` +
      'meteredsrc connection-swapped' +
      `${offer ? ' (new offer taken)' : ''}; same pad, ${frames() - f0} frames after; no error`;
  });
  return out.print();
}

runDriver(140, main, async () => {
  if (t) await t.stop();
  if (ctx) await ctx.close().catch(() => {});
  if (srv) await srv.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});
