// bench/cluster.sh --soak's driver: the issue 18 soak at full length (the CI
// size is tests/cluster/soak.test.mjs; both run tests/cluster/soak-lib.mjs).
import os from 'node:os';
import { startRedis } from '../tests/cluster/cluster-lib.mjs';
import { runSoak, formatSoak } from '../tests/cluster/soak-lib.mjs';

const env = (k, d) => Number(process.env[k] || d);
const opts = {
  durationMs: 60000 * env('SOAK_MINUTES', 30),
  killEveryMs: 1000 * env('KILL_EVERY', 120),
  clients: env('CLIENTS', 30),
  leaseMs: env('LEASE_MS', 3000),
  pubRate: env('PUB_RATE', 5),
  directRate: env('DIRECT_RATE', 2),
  redisRestart: env('REDIS_RESTART', 0) > 0,
};
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
console.log(`cluster soak: ${JSON.stringify(opts)}; load average at start ${load()}`);
const redis = await startRedis();
let code = 1;
try {
  const r = await runSoak({ ...opts, redis, log: (l) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${l}`) });
  console.log(`\n${formatSoak(r)}\nload average at the end ${load()}`);
  code = r.totals.violations ? 1 : 0;
} finally {
  await redis.cleanup();
}
process.exit(code);
