#!/usr/bin/env bash
# gst-metered — LGPL-2.1-or-later
#
# bench/sink-fanout.sh [--seconds N] [--warmup N] [--repeat N] [--builddir DIR]
#
# What one meteredsink costs, and what more viewers add: a live 720p30 test
# pattern (videotestsrc is-live=true pattern=ball) into meteredsink, with 1
# and then 8 receivers (metered-peer-tool --recv: depayload, no decode) on
# loopback, and the same pipeline through a hand-written webrtcbin sender
# (bench/webrtcbin-baseline.c, same VP8 settings, one receiver) as the
# baseline. For each it prints the sender's CPU seconds per minute (user +
# system of the sending process only, over --seconds after --warmup), the
# ratio 8 receivers / 1 receiver (goal <= 1.3: the encode is shared) and the
# overhead ratio meteredsink / webrtcbin with one receiver (goal <= 1.05).
# With --repeat N the three runs are repeated N times, interleaved, and the
# median of each is used (a shared machine is noisy).
#
# Runs inside the network namespace tests/browser/netns-run.sh makes (it
# re-executes itself there), with metered-server --dev on a free port.
# Needs a built tree (default build/: metered-server, the plugin,
# metered-peer-tool) and a C compiler for the baseline. Not a test: figures.
set -euo pipefail

seconds=30
warmup=5
repeat=1
builddir=build
while [[ $# -gt 0 ]]; do
  case "$1" in
  --seconds) seconds=$2; shift ;;
  --warmup) warmup=$2; shift ;;
  --repeat) repeat=$2; shift ;;
  --builddir) builddir=$2; shift ;;
  -h | --help) sed -n '4,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "sink-fanout.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ $builddir == /* ]]; then build=$builddir; else build=$root/$builddir; fi
if [[ -z "${METERED_NETNS:-}" ]]; then
  exec "$root/tests/browser/netns-run.sh" bash "$0" --seconds "$seconds" \
    --warmup "$warmup" --repeat "$repeat" --builddir "$build"
fi

server=$build/src/server/metered-server
peertool=$build/tests/peer/metered-peer-tool
for f in "$server" "$peertool" "$build/gst/libgstmetered.so"; do
  [[ -x $f || -f $f ]] || { echo "sink-fanout.sh: $f missing (build $build first)" >&2; exit 1; }
done
export GST_PLUGIN_PATH=$build/gst
tmp=$(mktemp -d /tmp/metered-bench-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
  wait 2> /dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
export GST_REGISTRY=$tmp/registry.bin

cc -O2 -o "$tmp/webrtcbin-baseline" "$root/bench/webrtcbin-baseline.c" -DGST_USE_UNSTABLE_API \
  $(pkg-config --cflags --libs gstreamer-1.0 gstreamer-webrtc-1.0 gstreamer-sdp-1.0 gio-unix-2.0)

"$server" --dev --port 0 --port-file "$tmp/port" --ip-connect-limit 0 > "$tmp/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -s $tmp/port ]] && break; sleep 0.1; done
port=$(cat "$tmp/port")
url=ws://127.0.0.1:$port
hz=$(getconf CLK_TCK)
nproc_=$(nproc)

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# last framesReceived of a metered-peer-tool log
received() { grep -o '"framesReceived":[0-9]*' "$1" | tail -n 1 | cut -d: -f2; }

# wait_for SECONDS COMMAND...: polls until COMMAND succeeds
wait_for() {
  local limit=$1
  shift
  for _ in $(seq $((limit * 10))); do "$@" && return 0; sleep 0.1; done
  return 1
}

all_receiving() {
  local f n
  for f in "$tmp"/recv-"$1"-*.log; do
    n=$(received "$f")
    [[ -n $n && $n -gt 0 ]] || return 1
  done
}

# measure PID: prints CPU seconds per minute of PID over $seconds
measure() {
  local t0 t1
  t0=$(ticks "$1")
  sleep "$seconds"
  t1=$(ticks "$1")
  awk -v d=$((t1 - t0)) -v hz="$hz" -v s="$seconds" 'BEGIN { printf "%.2f", d / hz * 60 / s }'
}

declare -A cpu fps runs
sink_run() {
  local n=$1 ch=bench-$1-$$ i sender before after
  for i in $(seq "$n"); do
    "$peertool" --url "$url" --key pk_dev_local --channel "$ch" --recv \
      --duration $((seconds + warmup + 60)) --status-ms 1000 > "$tmp/recv-$n-$i.log" 2>&1 &
    pids+=($!)
  done
  gst-launch-1.0 -q videotestsrc is-live=true pattern=ball ! \
    video/x-raw,width=1280,height=720,framerate=30/1 ! \
    meteredsink url="$url" api-key=pk_dev_local channel="$ch" > "$tmp/sender-$n.log" 2>&1 &
  sender=$!
  pids+=("$sender")
  wait_for 40 all_receiving "$n" || { echo "receivers do not receive:" >&2; tail -n 3 "$tmp"/recv-"$n"-*.log >&2; exit 1; }
  sleep "$warmup"
  before=0
  for i in $(seq "$n"); do before=$((before + $(received "$tmp/recv-$n-$i.log"))); done
  cpu[$n]=$(measure "$sender")
  runs[$n]+=" ${cpu[$n]}"
  after=0
  for i in $(seq "$n"); do after=$((after + $(received "$tmp/recv-$n-$i.log"))); done
  fps[$n]=$(awk -v d=$((after - before)) -v n="$n" -v s="$seconds" 'BEGIN { printf "%.1f", d / n / s }')
  kill "$sender"
  wait "$sender" 2> /dev/null || true
  pkill -f "channel $ch" 2> /dev/null || true
}

baseline_run() {
  local b before after
  "$tmp/webrtcbin-baseline" --width 1280 --height 720 --fps 30 2> "$tmp/baseline.log" &
  b=$!
  pids+=("$b")
  wait_for 40 grep -q 'frames [1-9]' "$tmp/baseline.log" || { echo "baseline does not flow" >&2; exit 1; }
  sleep "$warmup"
  before=$(grep -o 'frames [0-9]*' "$tmp/baseline.log" | tail -n 1 | cut -d' ' -f2)
  cpu[baseline]=$(measure "$b")
  runs[baseline]+=" ${cpu[baseline]}"
  after=$(grep -o 'frames [0-9]*' "$tmp/baseline.log" | tail -n 1 | cut -d' ' -f2)
  fps[baseline]=$(awk -v d=$((after - before)) -v s="$seconds" 'BEGIN { printf "%.1f", d / s }')
  kill "$b"
  wait "$b" 2> /dev/null || true
}

median() { tr ' ' '\n' <<< "$1" | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "sink-fanout: 720p30 VP8 (1 Mbit/s), $seconds s measured after $warmup s, $repeat round(s), $nproc_ CPUs, $(gst-launch-1.0 --gst-version | head -n 1)"
for r in $(seq "$repeat"); do
  sink_run 1
  sink_run 8
  baseline_run
  echo "round $r: meteredsink x1 ${cpu[1]}, meteredsink x8 ${cpu[8]}, webrtcbin x1 ${cpu[baseline]} CPU s/min"
done
for k in 1 8 baseline; do cpu[$k]=$(median "${runs[$k]}"); done
printf '%-34s %10s %16s\n' "sender (median of $repeat)" "receivers" "CPU s/min"
printf '%-34s %10s %16s   (%s fps per receiver)\n' "meteredsink" 1 "${cpu[1]}" "${fps[1]}"
printf '%-34s %10s %16s   (%s fps per receiver)\n' "meteredsink" 8 "${cpu[8]}" "${fps[8]}"
printf '%-34s %10s %16s   (%s fps)\n' "webrtcbin baseline (hand-written)" 1 "${cpu[baseline]}" "${fps[baseline]}"
awk -v a="${cpu[8]}" -v b="${cpu[1]}" -v c="${cpu[baseline]}" 'BEGIN {
  printf "ratio 8 receivers / 1 receiver:        %.2f (goal <= 1.30)\n", a / b
  printf "overhead meteredsink / webrtcbin (1):  %.2f (goal <= 1.05)\n", b / c }'
