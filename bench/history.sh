#!/usr/bin/env bash
# gst-metered — LGPL-2.1-or-later
#
# bench/history.sh [BUILDDIR] [N] [PAYLOAD_BYTES]
#
# Channel history (issue 17): replay time for N missed messages (default
# 10,000) beside the live delivery of the same N (the baseline), and the
# memory the history holds per stored message, for 64-byte and 1 KiB
# payloads. In process (bench/history-bench.c): the hub's own cost, no
# sockets. Needs a built BUILDDIR (default build/).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
n=${2:-10000}
bin=$build/tests/unit/history-bench
ninja -C "$build" tests/unit/history-bench >/dev/null
for payload in ${3:-64 1024}; do
  "$bin" "$n" "$payload"
  echo
done
