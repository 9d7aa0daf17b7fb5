#!/usr/bin/env bash
# gst-metered — LGPL-2.1-or-later
#
# bench/soak.sh [BUILDDIR] [DRIVER OPTIONS...]
#
# The soak of issue 8: metered-server --dev, meteredsink (live test pattern)
# -> meteredsrc (fakesinks with buffer counters), then 1000 signalling
# drop/reconnect cycles (admin API drop, alternating receiver and sender),
# sampling RSS, fds and threads of the three processes every 100 cycles,
# inside tests/browser/netns-run.sh's private network namespace. Prints the
# table and the RSS slope; fails when growth exceeds the bounds of
# bench/soak-driver.cjs (see its header). About 0.8 s per cycle on a
# 2-core machine: ~15 min for the default 1000.
#
#   bench/soak.sh                           # build/, 1000 cycles
#   bench/soak.sh build-x --cycles 200 --every 20
#
# The short CI version is the meson test `soak` (tests/soak/meson.build).
#
# What the RSS growth is (2026-11, GStreamer 1.22, GLib 2.74, libsoup 3.2.3,
# libnice 0.1.21, glibc 2.36; heaptrack, GST_TRACERS=leaks, MALLOC_ARENA_MAX):
#   - a MeteredConnection (with its send branch) leaked when webrtcbin
#     answered a promise after the owner's signalling thread had stopped,
#     and the websocket's async close never ran: fixed (on_context() in
#     src/peer/metered-connection.c, the drain in metered_runtime_stop());
#   - malloc arenas of the threads each WebRTC connection starts: the
#     growth of the first ~100 cycles, then ~2 KB a cycle, settling
#     (test-sink-cycles: 3.1 KB a cycle, 1.1 with MALLOC_ARENA_MAX=1);
#   - ~1.1 KB a connection inside libnice (objects of nice_agent_add_stream)
#     and OpenSSL (per-thread DRBG state, SSL_new), no GstObject left alive;
#   - metered-server: libsoup 3.2.3 leaks the GSocket of every accepted
#     connection (~0.5 KB each; tests/lsan.supp, tests/valgrind.supp).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
[[ $# -gt 0 ]] && shift
[[ $build = /* ]] || build=$root/$build
for f in src/server/metered-server tests/src/meteredsrc-tool tests/sink/metered-sink-tool gst/libgstmetered.so; do
  [[ -e $build/$f ]] || { echo "soak.sh: $build/$f missing (meson compile -C $build)" >&2; exit 1; }
done

export METERED_SERVER=$build/src/server/metered-server
export GST_PLUGIN_PATH=$build/gst
# A registry of its own, scanned in-process: works for sanitized builds too.
export GST_REGISTRY=${GST_REGISTRY:-$build/bench-soak-registry.bin}
export GST_REGISTRY_FORK=no

exec "$root/tests/browser/netns-run.sh" node "$root/bench/soak-driver.cjs" \
  --src-tool "$build/tests/src/meteredsrc-tool" \
  --sink-tool "$build/tests/sink/metered-sink-tool" \
  --cycles 1000 --every 100 "$@"
