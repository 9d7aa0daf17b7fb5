// The cluster soak at CI size (issue 18; the long one is
// bench/cluster.sh --soak): 3 nodes over the test's own redis-server, raw
// clients publishing, sending direct and watching presence while a node is
// SIGKILLed and restarted every SOAK_KILL_EVERY seconds, and Redis killed
// (-9) and restarted half way between kills. Fails on any invariant
// violation (tests/cluster/soak-lib.mjs lists them), a client socket
// closed by a Redis restart included.
// Knobs: SOAK_SECONDS (60), SOAK_KILL_EVERY (15), SOAK_CLIENTS (12),
// SOAK_LEASE_MS (6000: ASan on a loaded 2-core box must not fence),
// SOAK_REDIS_RESTART (1; 0: node kills only).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis } from './cluster-lib.mjs';
import { runSoak, formatSoak } from './soak-lib.mjs';

let redis;
let result;
after(async () => {
  if (result) for (const n of result.nodes) if (n.alive()) await n.stop('SIGKILL');
  if (redis) await redis.cleanup();
});

test('soak: a node SIGKILLed and restarted every few seconds, no invariant violated', async () => {
  redis = await startRedis();
  result = await runSoak({
    redis,
    durationMs: 1000 * Number(process.env.SOAK_SECONDS || 60),
    killEveryMs: 1000 * Number(process.env.SOAK_KILL_EVERY || 15),
    clients: Number(process.env.SOAK_CLIENTS || 12),
    leaseMs: Number(process.env.SOAK_LEASE_MS || 6000),
    redisRestart: process.env.SOAK_REDIS_RESTART !== '0',
    log: (l) => console.error(l),
  });
  console.error(formatSoak(result));
  assert.ok(result.totals.kills >= 2, `at least two kills (${result.totals.kills})`);
  if (process.env.SOAK_REDIS_RESTART !== '0')
    assert.ok(result.totals.redisRestarts >= 2, `at least two Redis restarts (${result.totals.redisRestarts})`);
  assert.ok(result.totals.deliveries > 0 && result.totals.directsDelivered > 0, 'traffic flowed');
  const list = result.violations.slice(0, 20).map((v) => `${v.kind}: ${v.what}`).join('\n');
  assert.equal(result.totals.violations, 0, `invariant violations:\n${list}`);
});
