// gst-metered — LGPL-2.1-or-later
//
// Browser <-> browser interop through metered-server, with the real
// @metered-ca/realtime SDK (its UMD bundle) in two headless Chromium pages.
//
// Runs inside the private network namespace made by netns-run.sh (meson does
// `netns-run.sh node browser-interop.cjs`), so ICE can only use the veth pair
// 10.99.0.1 / 10.99.0.2; this script checks that before it starts anything.
//
//   1. copies tests/browser/www/page.html and the SDK's dist/index.umd.js
//      (from the npm install in NODE_PATH) into a temporary web root;
//   2. starts $METERED_SERVER --dev --port 0 --port-file F --web-root DIR
//      --ip-connect-limit 0 (it binds 127.0.0.1);
//   3. opens page B (receiver) and page A (fake camera, addStream with
//      metadata {role:'camera'}) in Debian's /usr/bin/chromium via
//      playwright-core, both joining one channel on ws://127.0.0.1:PORT;
//   4. passes when B reports decoded video frames (getStats inbound-rtp
//      framesDecoded > 0) and a `stream-added` event carrying the metadata,
//      and the selected ICE pair on both pages uses 10.99.0.x addresses;
//   5. stops the server with SIGTERM and requires exit status 0.
//
// Environment (tests/meson.build js_env): NODE_PATH, METERED_SERVER,
// METERED_SOURCE_ROOT. Optional: METERED_BROWSER_TIMEOUT_S (default 60).
// Exit: 0 pass, 1 fail, 77 skip (only outside CI, only when chromium or
// playwright-core is truly absent).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');

const CHROMIUM = '/usr/bin/chromium';
const WAIT_S = Number(process.env.METERED_BROWSER_TIMEOUT_S || 60);
const NETNS_ADDR = /^10\.99\.0\.[12]$/;
const T0 = Date.now();
const ts = () => ((Date.now() - T0) / 1000).toFixed(2).padStart(6);
const log = (...a) => console.log(ts(), ...a);
let liveServer = null; // killed by the overall time guard

function skipOrFail(reason) {
  if (process.env.CI) {
    console.error(`FAIL: ${reason} (CI is set: nothing may skip)`);
    process.exit(1);
  }
  console.log(`SKIP: ${reason}`);
  process.exit(77);
}

function requireEnv(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`FAIL: environment variable ${name} is not set (run through meson test)`);
    process.exit(1);
  }
  return v;
}

// The test must never run WebRTC on the machine's own interfaces.
function checkNamespace() {
  const addrs = [];
  for (const [name, list] of Object.entries(os.networkInterfaces())) {
    for (const a of list) if (!a.internal && a.family === 'IPv4') addrs.push(`${name}=${a.address}`);
  }
  const foreign = addrs.filter((x) => !NETNS_ADDR.test(x.split('=')[1]));
  if (addrs.length === 0 || foreign.length) {
    throw new Error(`not inside netns-run.sh's namespace (IPv4 interfaces: ${addrs.join(' ') || 'none'})`);
  }
  log(`network namespace ok: ${addrs.join(' ')}`);
}

function prepareWebRoot(tmp) {
  const sdkMain = require.resolve('@metered-ca/realtime'); // <pkg>/dist/index.cjs
  const umd = path.join(path.dirname(sdkMain), 'index.umd.js');
  const version = require(path.join(path.dirname(sdkMain), '..', 'package.json')).version;
  const root = path.join(tmp, 'www');
  fs.mkdirSync(root);
  const src = path.join(requireEnv('METERED_SOURCE_ROOT'), 'tests', 'browser', 'www');
  for (const f of fs.readdirSync(src)) fs.copyFileSync(path.join(src, f), path.join(root, f));
  fs.copyFileSync(umd, path.join(root, 'metered-realtime.umd.js'));
  log(`web root ${root}: page.html + @metered-ca/realtime ${version} UMD bundle`);
  return root;
}

function startServer(exe, webRoot, tmp) {
  const portFile = path.join(tmp, 'port');
  const args = ['--port', '0', '--port-file', portFile, '--dev', '--web-root', webRoot,
                '--ip-connect-limit', '0'];
  log(`starting ${exe} ${args.join(' ')}`);
  const child = spawn(exe, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const srv = { child, output: '', exit: null };
  liveServer = srv;
  const keep = (d) => { srv.output += d.toString(); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  srv.exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    srv.exit = { code, signal };
    resolve(srv.exit);
  }));
  srv.port = (async () => {
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline) {
      if (srv.exit) throw new Error(`metered-server exited early (${JSON.stringify(srv.exit)})`);
      const txt = fs.existsSync(portFile) ? fs.readFileSync(portFile, 'utf8').trim() : '';
      if (/^\d+$/.test(txt) && +txt > 0) return +txt;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('metered-server wrote no --port-file within 15 s');
  })();
  return srv;
}

async function stopServer(srv) {
  if (!srv.exit) {
    srv.child.kill('SIGTERM');
    const t = setTimeout(() => srv.child.kill('SIGKILL'), 10000);
    await srv.exited;
    clearTimeout(t);
  }
  return srv.exit;
}

function summarize(stats) {
  return Object.entries(stats).map(([id, r]) => {
    const p = r.pair ? `${r.pair.local.type}/${r.pair.local.address}:${r.pair.local.port}` +
      ` <-> ${r.pair.remote.type}/${r.pair.remote.address}:${r.pair.remote.port}` : 'no pair';
    return `${id}: ${r.conn}/${r.ice} dec=${r.framesDecoded} enc=${r.framesEncoded}` +
      `${r.codec ? ' ' + r.codec : ''} [${p}]`;
  }).join('; ') || 'no remote peers';
}

async function main() {
  const exe = requireEnv('METERED_SERVER');
  requireEnv('NODE_PATH');
  if (!fs.existsSync(CHROMIUM)) skipOrFail(`${CHROMIUM} not installed (Debian package chromium)`);
  let chromium;
  try {
    ({ chromium } = require('playwright-core'));
    require.resolve('@metered-ca/realtime');
  } catch (e) {
    skipOrFail(`npm packages missing in NODE_PATH=${process.env.NODE_PATH} ` +
      `(scripts/run-tests.sh installs them): ${e.message.split('\n')[0]}`);
  }
  checkNamespace();

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-browser-'));
  let srv = null;
  let ctx = null;
  let ok = false;
  try {
    const webRoot = prepareWebRoot(tmp);
    srv = startServer(exe, webRoot, tmp);
    const port = await srv.port;
    log(`metered-server listening on 127.0.0.1:${port}`);

    const args = [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
      '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ];
    const userDataDir = path.join(tmp, 'chromium-profile');
    fs.mkdirSync(userDataDir);
    ctx = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM, headless: true, args,
    });
    log(`chromium ${ctx.browser() ? ctx.browser().version() : ''} launched (${CHROMIUM})`);

    const channel = `browser-interop-${process.pid}`;
    const base = `http://127.0.0.1:${port}/page.html?channel=${encodeURIComponent(channel)}`;
    const pages = {};
    const open = async (name, query) => {
      const page = await ctx.newPage();
      page.on('console', (m) => { if (/^\[interop\]/.test(m.text())) log(`[${name}] ${m.text()}`); });
      page.on('pageerror', (e) => log(`[${name}] PAGEERROR ${e}`));
      const resp = await page.goto(base + query);
      if (!resp || resp.status() !== 200) {
        throw new Error(`GET page.html from metered-server's --web-root: HTTP ${resp && resp.status()}`);
      }
      pages[name] = page;
      return page;
    };

    const pageB = await open('B', '');
    const tSend = Date.now();
    const pageA = await open('A', '&send=1');
    for (const [name, page] of Object.entries(pages)) {
      await page.waitForFunction(() => window.interop && (window.interop.ready || window.interop.errors.length),
        null, { timeout: 15000 });
      const st = await page.evaluate(() => ({ id: window.interop.peerId, errors: window.interop.errors }));
      if (st.errors.length) throw new Error(`page ${name}: ${st.errors.join(' | ')}`);
      log(`page ${name} joined ${channel} as ${st.id}`);
    }
    const tJoined = Date.now();

    // Wait for decoded frames, the stream-added metadata and a selected pair.
    const deadline = tSend + WAIT_S * 1000;
    let firstFrameAt = null;
    let lastPrint = 0;
    let statsA = {};
    let statsB = {};
    let streamAdded = null;
    for (;;) {
      [statsA, statsB] = await Promise.all([pageA, pageB].map((p) => p.evaluate(() => window.interop.stats())));
      const eventsB = await pageB.evaluate(() => window.interop.events);
      streamAdded = eventsB.find((e) => e.name === 'stream-added') || null;
      const decoded = Math.max(0, ...Object.values(statsB).map((r) => r.framesDecoded));
      if (decoded > 0 && !firstFrameAt) {
        firstFrameAt = Date.now();
        log(`first decoded frame on page B: time-to-first-frame ${((firstFrameAt - tSend) / 1000).toFixed(2)} s ` +
          `after the sender page opened (${((firstFrameAt - tJoined) / 1000).toFixed(2)} s after both joined)`);
      }
      const pairsReady = [statsA, statsB].every((s) => Object.values(s).some((r) => r.pair));
      if (firstFrameAt && streamAdded && pairsReady) break;
      if (Date.now() - lastPrint > 2000) {
        lastPrint = Date.now();
        log(`waiting: A {${summarize(statsA)}} B {${summarize(statsB)}} stream-added=${!!streamAdded}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`no success within ${WAIT_S} s: frames decoded on B=${decoded}, ` +
          `stream-added=${JSON.stringify(streamAdded)}, A {${summarize(statsA)}} B {${summarize(statsB)}}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }

    log(`A: ${summarize(statsA)}`);
    log(`B: ${summarize(statsB)}`);
    const problems = [];
    const md = streamAdded.metadata;
    if (!md || md.role !== 'camera') {
      problems.push(`stream-added on B carried metadata ${JSON.stringify(md)}, expected {role:'camera',...}`);
    } else {
      log(`stream-added on B: stream ${streamAdded.streamId} metadata ${JSON.stringify(md)}`);
    }
    for (const [name, stats] of [['A', statsA], ['B', statsB]]) {
      for (const [id, r] of Object.entries(stats)) {
        if (!r.pair) continue;
        for (const side of ['local', 'remote']) {
          const a = r.pair[side].address;
          if (!NETNS_ADDR.test(String(a))) {
            problems.push(`page ${name} -> ${id}: selected pair ${side} address ${a} is not 10.99.0.1/10.99.0.2`);
          }
        }
      }
    }
    for (const [name, page] of Object.entries(pages)) {
      const errs = await page.evaluate(() => window.interop.errors);
      if (errs.length) problems.push(`page ${name} errors: ${errs.join(' | ')}`);
    }
    if (problems.length) throw new Error(problems.join('\n'));
    ok = true;
  } catch (e) {
    console.error(`${ts()} FAIL: ${e && e.stack || e}`);
  } finally {
    if (ctx) await ctx.close().catch((e) => console.error(`chromium close: ${e}`));
    if (srv) {
      const exit = await stopServer(srv);
      if (!exit || exit.code !== 0) {
        console.error(`${ts()} FAIL: metered-server did not exit 0 on SIGTERM: ${JSON.stringify(exit)}`);
        ok = false;
      }
      if (!ok || process.env.METERED_BROWSER_VERBOSE) {
        console.error('---- metered-server output ----\n' + srv.output.trimEnd() + '\n---- end ----');
      }
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  log(ok ? 'PASS browser interop' : 'FAIL browser interop');
  return ok ? 0 : 1;
}

// Hard bound well inside meson's 180 s timeout, so a hang still prints why.
const guard = setTimeout(() => {
  console.error(`${ts()} FAIL: overall time limit (150 s) reached`);
  if (liveServer && !liveServer.exit) {
    liveServer.child.kill('SIGKILL');
    console.error('---- metered-server output ----\n' + liveServer.output.trimEnd() + '\n---- end ----');
  }
  process.exit(1);
}, 150000);
main().then((rc) => { clearTimeout(guard); process.exit(rc); },
  (e) => { console.error(`${ts()} FAIL: ${e && e.stack || e}`); process.exit(1); });
