#!/usr/bin/env bash
# gst-metered — LGPL-2.1-or-later
#
# bench/impair.sh [--quick] [--profiles LIST] [--senders LIST]
#                 [--duration S] [--before REV] [--builddir DIR] [--seed N]
#                 [--src-output decoded|encoded] [--src-latency MS]
#
# Video over a bad link, side by side in one run, from the viewer's
# getStats (headless Chromium, real @metered-ca/realtime SDK):
#   a   meteredsink (videotestsrc SMPTE moving, 640x360@30) -> Chromium
#   a0  the same, plugin built at --before REV (e.g. 2465760: before
#       NACK/RTX), when --before is given
#   c   meteredsink -> meteredsrc (output=decoded, or --src-output) in
#       the viewer's namespace, from the PTS and flags at its pad: frames
#       out per second (fps), output gaps > 100 ms in running time
#       (freezes, freeze s: their total), the longest gap (max gap ms),
#       resyncs (DISCONT frames: losses resolved at a key frame), bad
#       (DISCONT delta frames: decoded without their references) and pts
#       back (steps backwards); --src-latency fixes meteredsrc's latency
#       (after only). --senders a,c with --before prints a0, c0, a, c.
#       (c0 with the --before plugin on both ends)
#   b   Chromium's fake camera playing a y4m of the same content ->
#       Chromium (the baseline)
# The viewer sits in a network namespace of its own behind
# tests/netem/linkem (this kernel has no netem); profiles (one-way delay,
# loss both ways, cap on the viewer's downlink):
#   clean          no impairment
#   loss5-rtt50    5 % loss, 25 ms each way
#   loss5-rtt200   5 % loss, 100 ms +0..10 ms each way
#   loss1-rtt100   1 % loss, 50 ms each way
#   cap1m-q100     1 Mbit/s, 100 ms queue, 10 ms each way
#   steps-bursty   4 -> 1.5 -> 3 Mbit/s in thirds of the run, 300 ms queue,
#                  Gilbert-Elliott loss, 30 ms +0..10 ms each way
#   fanout-4+1     4 viewers on a clean link, one more in a namespace of its
#                  own behind 400 kbit/s, 5 % loss, 75 ms each way (rows
#                  a:v1..v4, a:weak; not for c)
# Per profile and sender: frames decoded/s, freezes and their total, packets
# lost, NACKs, retransmissions received, PLIs, key frames, frames dropped,
# kbit/s, jitter-buffer delay and target, RTT; then the ratios a/b (and
# a0/b) for freeze duration and frames decoded. --quick: clean and loss5-rtt50, 12 s each.
# Default: every profile, 30 s each, senders a,b (a0 added by --before).
#
# Runs inside tests/browser/netns-run.sh's namespace. Needs a built tree
# (default build/ with its js/node_modules: scripts/run-tests.sh
# --build-only). Not a test: figures (tests/media/meson.build has the CI
# check).
set -euo pipefail

builddir=build
before=
driver_args=()
senders=a,b
while [[ $# -gt 0 ]]; do
  case "$1" in
  --quick) driver_args+=(--quick) ;;
  --profiles | --duration | --seed | --src-output | --src-latency)
    driver_args+=("$1" "$2"); shift ;;
  --senders) senders=$2; shift ;;
  --before) before=$2; shift ;;
  --builddir) builddir=$2; shift ;;
  -h | --help) sed -n '4,46p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "impair.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
build=$root/$builddir
[[ -x $build/tests/netem/linkem && -x $build/src/server/metered-server ]] \
  || { echo "impair.sh: build $build first (ninja -C $builddir)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/metered-impair-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
if [[ -n $before ]]; then
  # the plugin as it was at REV, built apart (the worktree is not touched)
  echo "impair.sh: building the plugin at $before in $tmp/before" >&2
  mkdir "$tmp/before"
  git -C "$root" archive "$before" | tar -x -C "$tmp/before"
  meson setup "$tmp/before/build" "$tmp/before" > "$tmp/before.log" 2>&1
  ninja -C "$tmp/before/build" gst/libgstmetered.so >> "$tmp/before.log" 2>&1 \
    || { tail -20 "$tmp/before.log" >&2; exit 1; }
  # a0 before a, c0 before c
  senders=$(tr ',' '\n' <<< "$senders" | sed -n 's/^\([ac]\)$/\10/p' | paste -sd,),$senders
  senders=${senders#,}
  driver_args+=(--before-plugin-path "$tmp/before/build/gst")
fi

echo "impair.sh: $(uptime)"
NODE_PATH=$build/js/node_modules METERED_SERVER=$build/src/server/metered-server \
  METERED_SOURCE_ROOT=$root METERED_BUILD_ROOT=$build GST_PLUGIN_PATH=$build/gst \
  IMPAIR_LIMIT_S=3600 \
  "$root/tests/browser/netns-run.sh" node "$root/tests/media/impair.cjs" \
  --linkem "$build/tests/netem/linkem" --senders "$senders" "${driver_args[@]}"
