#!/usr/bin/env bash
# gst-metered — LGPL-2.1-or-later
#
# bench/recovery.sh [--runs N] [--outage-ms MS] [--scenarios LIST] [--builddir DIR]
#
# How meteredsink -> metered-server -> meteredsrc (both ends ours, VP8,
# decoded at the receiver) live through signalling trouble, in frames:
#   steady  no fault, 6 s: frames lost (the baseline);
#   outage  both elements' signalling sockets cut and refused for
#           --outage-ms (default 3000) while the media path stays up
#           (goal: 0 frames lost at meteredsrc's output);
#   swap    the sender's signalling socket cut once: the sender's session
#           rebuilds its connection (reconcile), so does the receiver's
#           (goal: <= 500 ms from the new connection's first media to
#           frames at meteredsrc's output; the whole gap is printed too).
# Each scenario runs N times (default 10) in one session; per run and then
# min / median / max of each figure. The frame number is painted into the
# picture at the sender and read back from meteredsrc's decoded output, so
# "lost" means frames that never came out (see bench/recovery-probe.c);
# the "stages" lines say where they were lost. RECOVERY_LOG=FILE keeps the
# driver's log (RECOVERY_VERBOSE=1: timed session and pad bridge logs).
#
# Runs inside tests/browser/netns-run.sh's namespace (it re-executes itself
# there) with metered-server --dev on 127.0.0.1. Needs a built tree
# (default build/: metered-server, the plugin) and a C compiler.
# Not a test: figures.
set -euo pipefail

runs=10
outage_ms=3000
scenarios=steady,outage,swap
builddir=build
while [[ $# -gt 0 ]]; do
  case "$1" in
  --runs) runs=$2; shift ;;
  --outage-ms) outage_ms=$2; shift ;;
  --scenarios) scenarios=$2; shift ;;
  --builddir) builddir=$2; shift ;;
  -h | --help) sed -n '4,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "recovery.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ $builddir == /* ]]; then build=$builddir; else build=$root/$builddir; fi
if [[ -z "${METERED_NETNS:-}" ]]; then
  exec "$root/tests/browser/netns-run.sh" bash "$0" --runs "$runs" \
    --outage-ms "$outage_ms" --scenarios "$scenarios" --builddir "$build"
fi

server=$build/src/server/metered-server
for f in "$server" "$build/gst/libgstmetered.so"; do
  [[ -f $f ]] || { echo "recovery.sh: $f missing (build $build first)" >&2; exit 1; }
done
export GST_PLUGIN_PATH=$build/gst
tmp=$(mktemp -d /tmp/metered-recovery-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
  wait 2> /dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
export GST_REGISTRY=$tmp/registry.bin

cc -O2 -o "$tmp/recovery-probe" "$root/bench/recovery-probe.c" \
  "$root/tests/client/metered-test-proxy.c" -I"$root/tests/client" \
  $(pkg-config --cflags --libs gstreamer-1.0 gstreamer-video-1.0 gio-2.0)

"$server" --dev --port 0 --port-file "$tmp/port" --ip-connect-limit 0 > "$tmp/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -s $tmp/port ]] && break; sleep 0.1; done
port=$(cat "$tmp/port")
mint() { "$server" --mint-token --dev --sub "$1" --ttl 3600; }

echo "recovery.sh: $runs runs of $scenarios, outage $outage_ms ms, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$tmp/recovery-probe" --port "$port" --src-token "$(mint a-src)" --sink-token "$(mint z-sink)" \
  --runs "$runs" --outage-ms "$outage_ms" --scenarios "$scenarios" 2> "$tmp/probe.err" \
  | tee "$tmp/runs.txt" || { tail -n 40 "$tmp/probe.err" >&2; exit 1; }
[[ -n "${RECOVERY_LOG:-}" ]] && cp "$tmp/probe.err" "$RECOVERY_LOG"
grep "^stages" "$tmp/probe.err" >&2 || true
grep -v "^stages" "$tmp/probe.err" | tail -n 3 >&2

# min / median / max per scenario and figure (-1: not measured)
awk '
NR == 1 { for (i = 3; i <= NF; i++) name[i] = $i; nf = NF; next }
NF == nf { if (!($1 in sc)) { sc[$1] = 1; order[++ns] = $1 }
  for (i = 3; i <= NF; i++) if ($i != -1) v[$1, i] = v[$1, i] " " $i }
END {
  printf "\n%-8s %-26s %8s %8s %8s\n", "scenario", "figure", "min", "median", "max"
  for (k = 1; k <= ns; k++) for (i = 3; i <= nf; i++) {
    s = order[k]
    n = split(substr(v[s, i], 2), a, " ")
    if (n == 0) continue
    for (x = 1; x <= n; x++) for (y = x + 1; y <= n; y++) if (a[y] + 0 < a[x] + 0) { t = a[x]; a[x] = a[y]; a[y] = t }
    med = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    printf "%-8s %-26s %8s %8s %8s\n", s, name[i], a[1], med, a[n]
  }
}' "$tmp/runs.txt"
