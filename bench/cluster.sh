#!/usr/bin/env bash
# gst-metered — LGPL-2.1-or-later
#
# bench/cluster.sh [BUILDDIR]
#
# metered-server's cluster mode (issue 18) on loopback, figures only:
#   1. publish->deliver latency at 10,000 deliveries/s (2 publishers x
#      50 msg/s on node 1, 100 subscribers round-robin over 3 nodes),
#      next to a single metered-server without Redis under the same load;
#   2. time from SIGKILL of a node holding 20 subscribed peers until an
#      observer on another node has seen every one of them leave (3 runs);
#   3. Redis kill -9 and restart: time until cross-node delivery and the
#      full presence are back, and how many client WebSockets closed.
# Starts its own redis-server on a free 127.0.0.1 port and removes it;
# bounded (about a minute). Env: SUBS, SECONDS_RUN, KILLS.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
build=$(cd "$build" && pwd)
export METERED_SERVER=$build/src/server/metered-server
export NODE_PATH=${NODE_PATH:-$build/js/node_modules}
timeout 300 node "$here/cluster-bench.mjs"
