// Our client (metered-cli, built on MeteredSignallingClient) and the real
// SDK SignallingClient in one channel: publish and send both ways, then a
// metered-server SIGKILL + restart on the same port, then both ways again.
// Issue 3's cross-check; every payload must arrive exactly once.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { startServer, mintToken, waitFor } from '../js/lib/server.mjs';
import { connectClient, cleanupAll } from '../js/lib/sdk.mjs';

const servers = [];
const children = [];
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await cleanupAll();
  for (const s of servers) await s.stop();
});

function startCli(srv, token, channel) {
  const exe = path.join(process.env.METERED_BUILD_ROOT, 'src', 'cli', 'metered-cli');
  const child = spawn(exe, ['--url', srv.url, '--token', token, '--reconnect-initial-delay', '100',
    'subscribe', channel], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  const cli = { child, frames: [], connects: 0, stderr: '' };
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.trim()) cli.frames.push(JSON.parse(line));
    }
  });
  child.stderr.on('data', (d) => {
    cli.stderr += d.toString();
    cli.connects = (cli.stderr.match(/^connected /gm) || []).length;
  });
  cli.run = (line) => child.stdin.write(line + '\n');
  return cli;
}

const sdkMessages = (c, kind) => c.rec.events.filter((e) => e.name === kind).map((e) => e.p);

async function exchange(sdk, cli, round) {
  const channel = 'cross';
  // our client -> SDK: broadcast and direct
  cli.run(`publish ${channel} {"from":"cli","round":${round},"kind":"publish"}`);
  cli.run(`send sdk-peer {"from":"cli","round":${round},"kind":"send"}`);
  // SDK -> our client
  await sdk.publish(channel, { from: 'sdk', round, kind: 'publish' });
  await sdk.send('cli-peer', { from: 'sdk', round, kind: 'send' });

  await waitFor(() => sdkMessages(sdk, 'message').some((m) => m.data.round === round) &&
    sdkMessages(sdk, 'direct').some((m) => m.data.round === round),
  { what: `SDK got round ${round} from our client`, timeoutMs: 10000 });
  await waitFor(() => cli.frames.some((f) => f.type === 'message' && f.data.round === round) &&
    cli.frames.some((f) => f.type === 'direct' && f.data.round === round),
  { what: `our client got round ${round} from the SDK`, timeoutMs: 10000 });

  const m = sdkMessages(sdk, 'message').filter((x) => x.data.round === round);
  const d = sdkMessages(sdk, 'direct').filter((x) => x.data.round === round);
  assert.equal(m.length, 1, 'one broadcast from our client');
  assert.equal(m[0].from, 'cli-peer');
  assert.equal(d.length, 1, 'one direct from our client');
  assert.equal(d[0].from, 'cli-peer');
  const cm = cli.frames.filter((f) => f.type === 'message' && f.data.round === round);
  const cd = cli.frames.filter((f) => f.type === 'direct' && f.data.round === round);
  assert.equal(cm.length, 1, 'one broadcast from the SDK');
  assert.equal(cm[0].from, 'sdk-peer');
  assert.equal(cd.length, 1, 'one direct from the SDK');
  assert.equal(cd[0].from, 'sdk-peer');
}

test('our client and the SDK exchange publish and send both ways across a server restart', async () => {
  const srv = await startServer();
  servers.push(srv);
  const sdk = await connectClient(srv, { token: mintToken({ sub: 'sdk-peer', channels: ['**'] }) });
  await sdk.subscribe('cross');
  const cli = startCli(srv, mintToken({ sub: 'cli-peer', channels: ['**'] }), 'cross');
  // Both subscribed: the SDK sees our client join the channel.
  await waitFor(() => sdk.rec.events.some((e) => e.name === 'presence' &&
    e.p.joined.some((j) => j.peerId === 'cli-peer')), { what: 'cli-peer joined', timeoutMs: 10000 });
  await exchange(sdk, cli, 1);

  await srv.stop('SIGKILL');
  await srv.restart();
  await waitFor(() => cli.connects >= 2 && sdk.rec.events.some((e) => e.name === 'connected' && e.p.isReconnect),
    { what: 'both reconnected', timeoutMs: 20000 });
  // Replayed subscriptions: each sees the other again.
  await waitFor(() => sdk.rec.events.filter((e) => e.name === 'presence' &&
    e.p.joined.some((j) => j.peerId === 'cli-peer')).length >= 2,
  { what: 'cli-peer visible again after the restart', timeoutMs: 10000 });
  await waitFor(() => cli.frames.some((f) => f.type === 'presence' &&
    f.joined.some((j) => j.peerId === 'sdk-peer')), { what: 'sdk-peer visible to our client', timeoutMs: 10000 });
  await exchange(sdk, cli, 2);
  assert.match(cli.stderr, /disconnected code=1006/);
});
