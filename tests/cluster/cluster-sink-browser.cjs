// gst-metered — LGPL-2.1-or-later
//
// meteredsink and a browser viewer (the real @metered-ca/realtime SDK in
// headless Chromium) on different nodes of a cluster, and the sink's node
// SIGKILLed (issue 18's test plan), inside netns-run.sh's namespace:
//   redis-server of the test's own; nodes n1, n2, n3 (--cluster, lease
//   6 s: the re-home is what is tested, not the reaping time);
//   a loopback TCP balancer written here in front of n1 and n3: a new
//   connection goes to the first that accepts, so the sink lands on n1
//   and, once n1 is dead, on n3.
//   1. the sink (metered-sink-tool, JWT sub a-gst) through the balancer
//      (n1); viewer v1 on n2 decodes its video (cross-node signalling);
//   2. SIGKILL n1: the sink's socket drops, it reconnects through the
//      balancer to n3 and reconciles; v1 keeps decoding, and never sees
//      a-gst leave (it re-homed within the lease: no left+joined);
//      and the element is told no continuity-lost (its resume on n3
//      reads the channel history from Redis);
//   3. a new viewer v2 on n2 decodes too (signalling n2 <-> n3 after the
//      re-home);
//   4. the element posted no error; n2 and n3 exit 0 on SIGTERM.
//
// argv: path to metered-sink-tool. Env as tests/sink/meson.build's.
'use strict';

const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { pathToFileURL } = require('url');
const {
  log, live, requireEnv, checkNamespace, prepareWebRoot, startServer, stopServer,
  launchChromium, openPage,
} = require('../js/lib/interop.cjs');
const {
  mint, startTool, stopTool, decoded, streamAdded, waitFor, progress,
} = require('../sink/sink-lib.cjs');

const LEASE_MS = 6000;

// Forwards each connection to the first of ports() that accepts it.
function startBalancer(ports) {
  const open = new Set();
  const srv = net.createServer((c) => {
    open.add(c);
    c.on('close', () => open.delete(c));
    c.on('error', () => {});
    c.pause();
    const tryAt = (i) => {
      const list = ports();
      if (i >= list.length) { c.destroy(); return; }
      const u = net.connect(list[i], '127.0.0.1');
      u.once('error', () => tryAt(i + 1));
      u.once('connect', () => {
        u.removeAllListeners('error');
        u.on('error', () => c.destroy());
        u.on('close', () => c.destroy());
        c.on('close', () => u.destroy());
        c.pipe(u);
        u.pipe(c);
        c.resume();
      });
    };
    tryAt(0);
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve({
    port: srv.address().port,
    close: () => { for (const c of open) c.destroy(); srv.close(); },
  })));
}

async function main() {
  const exe = requireEnv('METERED_SERVER');
  const tool = process.argv[2];
  checkNamespace();
  const { startRedis } = await import(pathToFileURL(path.join(__dirname, 'cluster-lib.mjs')).href);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metered-cluster-sink-'));
  const webRoot = prepareWebRoot(tmp);
  const nodes = {};
  let redis = null;
  let lb = null;
  let ctx = null;
  let gst = null;
  let ok = false;
  try {
    redis = await startRedis();
    for (const id of ['n1', 'n2', 'n3']) {
      const dir = fs.mkdtempSync(path.join(tmp, `${id}-`));
      nodes[id] = startServer(exe, webRoot, dir, 0,
        ['--cluster', redis.url, '--node-id', id, '--cluster-lease-ms', String(LEASE_MS)]);
      nodes[id].port = await nodes[id].port;
      log(`${id} on 127.0.0.1:${nodes[id].port}`);
    }
    lb = await startBalancer(() => [nodes.n1.port, nodes.n3.port]);
    ctx = await launchChromium(tmp);

    // 1. the sink on n1 (through the balancer), v1 on n2
    const channel = `cluster-sink-${process.pid}`;
    const onN2 = `http://127.0.0.1:${nodes.n2.port}/page.html?channel=${channel}`;
    gst = startTool(tool, ['--url', `ws://127.0.0.1:${lb.port}`, '--token', mint(exe, 'a-gst'),
      '--channel', channel, '--metadata', 'meta,role=camera,label=gst', '--duration', '100',
      '--status-ms', '200']);
    await waitFor('the element to connect', 20,
      () => gst.events.some((e) => e.name === 'metered/connected'));
    const v1 = await openPage(ctx, onN2, 'v1', `&token=${mint(exe, 'm-view1')}`);
    await waitFor(async () => `v1 (n2) to decode the sink on n1 (decoded ${await decoded(v1)})`, 40,
      async () => (await decoded(v1)) > 0 && (await streamAdded(v1)).length > 0);
    await progress([v1], 30, 20, 'v1 before the kill');

    // 2. SIGKILL the sink's node
    const gstMark = gst.events.length;
    const v1Mark = (await v1.evaluate(() => window.interop.events)).length;
    const tKill = Date.now();
    nodes.n1.child.kill('SIGKILL');
    await nodes.n1.exited;
    await waitFor('the element to reconnect through the balancer', 30,
      () => gst.events.slice(gstMark).some((e) => e.name === 'metered/connected'));
    const tBack = Date.now();
    const stall = (await progress([v1], 60, 30, 'v1 after the kill'))[0];
    const left = (await v1.evaluate(() => window.interop.events)).slice(v1Mark)
      .filter((e) => e.name === 'peer-left');
    log(`sink back on n3 ${tBack - tKill} ms after the kill; v1 decoded 60 more frames, ` +
      `longest stall ${stall} ms; peer-left seen by v1: ${JSON.stringify(left)}; ` +
      `element events since the kill: ${gst.events.slice(gstMark).map((e) => e.name).join(', ')}`);
    if (left.some((e) => e.id === 'a-gst')) {
      throw new Error('v1 saw the sink leave: it re-homed within the lease and must not');
    }
    // The channel history is in Redis: the resume on n3 replays what n1
    // numbered, so the element is not told that continuity was lost.
    const lost = gst.events.slice(gstMark).filter((e) => e.name === 'metered/continuity-lost');
    if (lost.length) throw new Error(`the element lost continuity re-homing: ${JSON.stringify(lost)}`);

    // 3. a new viewer on n2 after the re-home
    const v2 = await openPage(ctx, onN2, 'v2', `&token=${mint(exe, 'm-view2')}`);
    await waitFor(async () => `v2 (n2) to decode the sink now on n3 (decoded ${await decoded(v2)})`, 40,
      async () => (await decoded(v2)) > 0);
    await progress([v1, v2], 30, 20, 'v1 and v2');

    // 4.
    if (gst.errors.length) throw new Error(`element errors: ${JSON.stringify(gst.errors)}`);
    ok = true;
  } catch (e) {
    console.error(`FAIL: ${e && e.stack || e}`);
    if (gst) console.error(`---- metered-sink-tool output ----\n${gst.output}\n---- end ----`);
  } finally {
    if (gst) await stopTool(gst);
    if (ctx) await ctx.close().catch((e) => console.error(`chromium close: ${e}`));
    if (lb) lb.close();
    for (const [id, srv] of Object.entries(nodes)) {
      if (id === 'n1' || !srv.child) continue;
      const exit = await stopServer(srv);
      if (!exit || exit.code !== 0) {
        console.error(`FAIL: ${id} did not exit 0 on SIGTERM: ${JSON.stringify(exit)}`);
        ok = false;
      }
      if (!ok) console.error(`---- ${id} output ----\n${srv.output.trimEnd()}\n---- end ----`);
    }
    if (redis) await redis.cleanup();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  log(ok ? 'PASS cluster sink browser' : 'FAIL cluster sink browser');
  return ok ? 0 : 1;
}

const guard = setTimeout(() => {
  console.error('FAIL: overall time limit (170 s) reached');
  if (live.server && !live.server.exit) live.server.child.kill('SIGKILL');
  process.exit(1);
}, 170000);
main().then((rc) => { clearTimeout(guard); process.exit(rc); },
  (e) => { console.error(`FAIL: ${e && e.stack || e}`); process.exit(1); });
