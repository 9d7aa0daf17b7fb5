// gst-metered — LGPL-2.1-or-later
//
// Fault matrix (issue 8), credential and plan rows, each against its own
// metered-server (--verbose: its connection log is the record of every
// attempt) and meteredsrc in meteredsrc-tool (fakesinks), inside
// netns-run.sh's namespace:
//   JWT expiry (token-url answers 20 s tokens: 4002, a new token, pads
//   flowing from a meteredsink sender), token provider failing (500 x3
//   then 200), token revoked (4001), channel not authorized, account
//   suspended (4012), admin kick (4020), concurrency cap (4010, then at
//   least 24 s before the next attempt: the protocol's 30 s floor with
//   -20 % jitter, read from the server's log). The terminal rows check that
//   no attempt follows (the server logs none) and the error the pipeline
//   gets. The cap row runs alongside the others: its 24+ s is the wait.
//
// argv: PATH/TO/meteredsrc-tool.
import fs from 'node:fs';

import {
  log, checkNamespace, requireEnv, startServer, admin, sleep, jwt, signJwt, nowSec, writeKeysFile,
  tokenServer, startSrc, startSink, padSummary, closeCode, willReconnect, until, Outcomes, runDriver,
} from './faults-lib.mjs';

const live = new Set(); // tools, servers and token servers to stop at the end
const track = (x) => { live.add(x); return x; };

// A server's log lines with the time each was first seen here.
function logWatch(srv) {
  const w = { lines: [], seen: 0 };
  w.timer = setInterval(() => {
    const all = srv.stdout().split('\n');
    for (let i = w.seen; i < all.length - 1; i++) w.lines.push({ at: Date.now(), text: all[i] });
    w.seen = Math.max(w.seen, all.length - 1);
  }, 50);
  w.count = (re) => w.lines.filter((l) => re.test(l.text)).length;
  w.stop = () => clearInterval(w.timer);
  return w;
}

const PROPS = ['output=encoded', 'reconnect-initial-delay=250', 'reconnect-max-delay=1000'];

async function main() {
  requireEnv('METERED_SERVER');
  requireEnv('GST_PLUGIN_PATH');
  const tool = process.argv[2];
  if (!tool || !fs.existsSync(tool)) throw new Error('usage: faults-auth.mjs PATH/TO/meteredsrc-tool');
  checkNamespace();
  const out = new Outcomes('credentials and plan');

  // One server and one element; resolves when the element is connected.
  const setup = async (name, credential, { connect = true, serverArgs = [], dev = true } = {}) => {
    const srv = track(await startServer({ args: ['--verbose', ...serverArgs], dev }));
    const w = logWatch(srv);
    const channel = `faults-${name}-${process.pid}`;
    const t = track(startSrc(tool, [`url=ws://127.0.0.1:${srv.port}`, credential, `channel=${channel}`,
      ...PROPS], name));
    if (connect) await until(() => t.bus('metered/connected').length, 20, `${name} to connect`);
    return { srv, w, t, channel };
  };
  const terminal = async ({ srv, w, t }, fault, code, errRe) => {
    // The element's bus and the server's log are two pipes read at their own
    // pace: count from the moment the log shows the element's connection,
    // or a late-read open line would pass for an attempt after the fault.
    await until(() => w.count(/connection \S+ open/) >= 1, 10, 'the server to log the connection');
    const opens = w.count(/connection \S+ open/);
    await fault();
    await until(() => t.bus('metered/disconnected').length, 15, 'disconnected');
    await until(() => t.errors().length, 15, 'an error on the bus');
    const d = t.bus('metered/disconnected')[0];
    await sleep(3000); // a retry (the backoff is 250 ms) would show up now
    const err = t.errors()[0];
    const attempts = w.count(/connection \S+ open|closing new connection/) - opens;
    if (closeCode(d) !== code) throw new Error(`close ${closeCode(d)}, expected ${code}`);
    if (willReconnect(d)) throw new Error(`${code} with will-reconnect`);
    if (attempts) throw new Error(`${attempts} more connection attempts after ${code}`);
    if (!errRe.test(err.message)) throw new Error(`error "${err.message}"`);
    if (t.bus('metered/connected').length !== 1) throw new Error('connected again');
    if (!srv.alive()) throw new Error('metered-server died');
    return `close ${code}, will-reconnect false; no attempt in 3 s; ERROR "${err.message}"`;
  };

  // The concurrency cap runs alongside the other rows.
  const cap = out.run('concurrency cap', async () => {
    const secret = 'faults-cap-secret-0123456789abcdef';
    const keys = writeKeysFile({ apps: [{ id: 'capped', maxConnections: 1, publishableKeys: [],
      secrets: [{ kid: 'cap1', secret }] }] });
    const token = (sub) => signJwt({ sub, exp: nowSec() + 900, channels: ['**'] }, { secret, kid: 'cap1' });
    const first = await setup('cap-1', `token=${token('cap-1')}`,
      { dev: false, serverArgs: ['--keys', keys, '--admin-token', 'faults-admin'] });
    const w = first.w;
    const t = track(startSrc(tool, [`url=ws://127.0.0.1:${first.srv.port}`, `token=${token('cap-2')}`,
      `channel=${first.channel}`, ...PROPS], 'cap-2'));
    await until(() => t.bus('metered/disconnected').length, 20, 'the second element closed');
    const d = t.bus('metered/disconnected')[0];
    const refusals = () => w.lines.filter((l) => /closing new connection: 4010/.test(l.text));
    await until(() => refusals().length >= 2, 50, 'the second element\'s next attempt');
    const gap = (refusals()[1].at - refusals()[0].at) / 1000;
    // The first connect failed: the SDK's connect() would reject, the
    // element's session retries it, and its message says so.
    if (closeCode(d) !== 4010 || !willReconnect(d)) throw new Error(`close ${d.structure}`);
    if (t.errors().length) throw new Error(`errors ${JSON.stringify(t.errors())}`);
    if (first.t.bus('metered/disconnected').length) throw new Error('the first element was disconnected');
    // The protocol's floor: 30 s before jitter, so 24..36 s.
    if (gap < 24) throw new Error(`next attempt ${gap.toFixed(1)} s after the 4010 (< 24 s)`);
    return `close 4010; next attempt ${gap.toFixed(1)} s later (server log; ` +
      'reconnect-max-delay=1000 otherwise); no error';
  });

  await out.run('JWT expiry', async () => {
    // 20 s tokens: metered-server closes 4002 about 250 ms before exp. Each
    // reconnect rebuilds the peer connection (§8.9), so a lifetime shorter
    // than a negotiation never gets media: with 6 s, ASan on a busy box
    // went 50 s without a pad. 20 s leaves a negotiation room on both sides
    // of the expiry.
    const tok = track(await tokenServer(() => ({ status: 200, body: jwt('a-exp', { ttl: 20 }) })));
    const { srv, t, channel } = await setup('exp', `token-url=${tok.url}`);
    await sleep(300);
    const sink = track(startSink(srv.port, jwt('z-sink'), channel));
    const VIDEO = 'video_z-sink_camera';
    const frames = () => (t.pad(VIDEO) ? t.pad(VIDEO).buffers : 0);
    await until(() => frames() >= 30, 40, `video ${padSummary(t)}`);
    await until(() => t.bus('metered/disconnected').length, 30, 'the 4002 close');
    const d = t.bus('metered/disconnected')[0];
    await until(() => t.bus('metered/connected', /is-reconnect=\(boolean\)true/).length, 15, 'reconnect');
    const f0 = frames();
    await until(() => frames() >= f0 + 30, 30, `video after the reconnect ${padSummary(t)}`);
    if (closeCode(d) !== 4002 || !willReconnect(d)) throw new Error(`close ${d.structure}`);
    if (tok.hits < 2) throw new Error(`token URL asked ${tok.hits} times`);
    if (t.errors().length) throw new Error(`errors ${JSON.stringify(t.errors())}`);
    if (sink.exit) throw new Error('the sender exited');
    await sink.stop();
    return `close 4002 (will reconnect); token URL asked ${tok.hits} times; reconnected; ` +
      `${frames() - f0} frames after; no error`;
  });

  await out.run('token provider failing', async () => {
    const tok = track(await tokenServer((n) => (n <= 3 ? { status: 500, body: 'down' }
      : { status: 200, body: jwt('a-tpf') })));
    const { t } = await setup('tpf', `token-url=${tok.url}`);
    const errs = t.bus('metered/token-provider-error');
    const c = t.bus('metered/connected')[0];
    if (!errs.length) throw new Error('no metered/token-provider-error');
    const n = errs.map((e) => +/consecutive-failures=\(uint\)(\d+)/.exec(e.structure)[1]);
    if (n[0] !== 3 || errs.length !== 1) throw new Error(`token-provider-error at failures ${n.join(',')}`);
    if (errs[0].at > c.at) throw new Error('token-provider-error after connected');
    if (t.errors().length) throw new Error(`errors ${JSON.stringify(t.errors())}`);
    return `token-provider-error once, consecutive-failures=3 (after 3 x HTTP 500); connected on the ` +
      `4th fetch (token URL asked ${tok.hits} times); no error`;
  });

  await out.run('token revoked', async () => {
    const s = await setup('rev', `token=${jwt('a-rev')}`);
    return terminal(s, async () => {
      const r = await admin(s.srv, 'POST', '/v1/keys/dev/revoke');
      if (r.status !== 204) throw new Error(`revoke: HTTP ${r.status}`);
    }, 4001, /Not authorized.*4001/);
  });

  await out.run('channel not authorized', async () => {
    const { srv, w, t } = await setup('chan', `token=${jwt('a-chan', { channels: ['elsewhere-*'] })}`,
      { connect: false });
    await until(() => t.errors().length, 20, 'an error on the bus');
    await sleep(3000);
    const err = t.errors()[0];
    const opens = w.count(/connection \S+ open/);
    if (!/Not authorized/.test(err.message)) throw new Error(`error "${err.message}"`);
    if (opens > 1) throw new Error(`${opens} connections: a retry loop`);
    if (t.errors().length !== 1) throw new Error(`${t.errors().length} errors`);
    if (!srv.alive()) throw new Error('metered-server died');
    return `ERROR "${err.message}"; ${opens} connection, no retry in 3 s`;
  });

  await out.run('account suspended', async () => {
    const s = await setup('susp', `token=${jwt('a-susp')}`);
    return terminal(s, async () => {
      const r = await admin(s.srv, 'POST', '/v1/apps/dev/suspend');
      if (r.status !== 204) throw new Error(`suspend: HTTP ${r.status}`);
    }, 4012, /for good.*4012/);
  });

  await out.run('admin kick', async () => {
    const s = await setup('kick', `token=${jwt('a-kick')}`);
    return terminal(s, async () => {
      const r = await admin(s.srv, 'DELETE', '/v1/peers/a-kick');
      if (r.status !== 204) throw new Error(`kick: HTTP ${r.status}`);
    }, 4020, /for good.*4020/);
  });

  await cap;
  return out.print();
}

runDriver(180, main, async () => {
  for (const x of live) {
    if (x.send) await x.stop(); // meteredsrc-tool
    else if (x.child) await x.stop(); // sender
    else if (x.close) await x.close(); // token server
    else if (x.stop) await x.stop(); // metered-server
  }
});
