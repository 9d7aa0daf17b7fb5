#!/usr/bin/env bash
# gst-metered — LGPL-2.1-or-later
#
# bench/cluster-soak.sh [BUILDDIR]
#
# Issue 18's soak: 3 metered-server nodes over a redis-server of its own
# (free 127.0.0.1 port, no persistence, directory removed), CLIENTS raw
# clients (Node `ws`, the wire protocol): a third publish, a third send
# direct, all watch presence. A node is SIGKILLed every KILL_EVERY seconds
# and restarted; its clients re-home to live nodes (most at once, a quarter
# after their `left`). Prints a row per kill and the totals, and counts the
# invariant violations (tests/cluster/soak-lib.mjs); exit 1 if any.
# Env: SOAK_MINUTES (30), KILL_EVERY (120), CLIENTS (30), LEASE_MS (3000),
# PUB_RATE (5), DIRECT_RATE (2) per client and second. Bounded by timeout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
build=$(cd "$build" && pwd)
export METERED_SERVER=$build/src/server/metered-server
export NODE_PATH=${NODE_PATH:-$build/js/node_modules}
minutes=${SOAK_MINUTES:-30}
timeout $(( minutes * 60 + 300 )) node "$here/cluster-soak.mjs"
