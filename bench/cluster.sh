#!/usr/bin/env bash
# gst-metered — LGPL-2.1-or-later
#
# bench/cluster.sh [--soak] [BUILDDIR]
#
# metered-server's cluster mode (issue 18) on loopback, figures only:
#   1. publish->deliver latency at 10,000 deliveries/s (2 publishers x
#      50 msg/s on node 1, 100 subscribers round-robin over 3 nodes),
#      next to a single metered-server without Redis under the same load;
#   1b. a join burst: BURST (300) peers subscribe to one channel at once,
#      a third per node: time until every view has every member (next to
#      a single node);
#   2. time from SIGKILL of a node holding 20 subscribed peers until an
#      observer on another node has seen every one of them leave (3 runs);
#   3. Redis kill -9 and restart: time until cross-node delivery and the
#      full presence are back, and how many client WebSockets closed;
#   4. PEERS (3,000) peers, a third on each node: SIGKILL of one node,
#      time until observers on the others saw each of its peers leave.
# Bounded (about two minutes). Env: SUBS, SECONDS_RUN, KILLS, BURST, PEERS (0
# skips 4), HISTORY=1 (subscribers ask for channel history),
# BASELINE_SERVER=<metered-server of another build> (phase 1 again on it,
# in the same run, rows side by side), ONLY=fanout (phase 1 alone).
#
# --soak: the issue's soak instead. 3 nodes, CLIENTS raw clients (Node
# `ws`, the wire protocol): a third publish, a third send direct, all
# watch presence. A node is SIGKILLed every KILL_EVERY seconds and
# restarted; its clients re-home to live nodes (most at once, a quarter
# after their `left`). Prints a row per kill and the totals, and counts
# the invariant violations (tests/cluster/soak-lib.mjs); exit 1 if any.
# Env: SOAK_MINUTES (30), KILL_EVERY (120), CLIENTS (30), LEASE_MS (3000),
# PUB_RATE (5), DIRECT_RATE (2) per client and second, REDIS_RESTART (0;
# 1: Redis kill -9 and restart half way between node kills, a table of
# its own; a client socket closed by it is a violation).
#
# Either starts its own redis-server on a free 127.0.0.1 port (no
# persistence) and removes its directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
driver=cluster-bench.mjs
bound=420
if [[ ${1:-} == --soak ]]; then
  shift
  driver=cluster-soak.mjs
  bound=$(( ${SOAK_MINUTES:-30} * 60 + 300 ))
fi
build=${1:-$here/../build}
build=$(cd "$build" && pwd)
export METERED_SERVER=$build/src/server/metered-server
export NODE_PATH=${NODE_PATH:-$build/js/node_modules}
# thousands of client sockets in one process, a third of them per node
ulimit -n "$(ulimit -Hn)" 2> /dev/null || true
timeout "$bound" node "$here/$driver"
