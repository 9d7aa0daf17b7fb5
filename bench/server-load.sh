#!/usr/bin/env bash
# gst-metered — LGPL-2.1-or-later
#
# bench/server-load.sh [BUILDDIR] [--idle N] [--only SCENARIO] [--duration S]
#                      [--before OTHER_BUILDDIR] [--before-args ARGS]
#                      [--no-pin] [--floor]
#
# metered-server against a reference server on Node's `ws`
# (bench/reference/ws-server.mjs), side by side on loopback, with the load
# client bench/server-load.c. Each scenario runs against a fresh
# metered-server, then against a fresh reference, and the table gives both
# and the ratio metered/reference. Scenarios:
#
#   fanout-10k   100 subscribers on one channel, 2 publishers x 50 msg/s:
#                10,000 deliveries/s offered; latency at that load
#   fanout-sat   100 subscribers, 50 publishers x 80 msg/s: 400,000
#                deliveries/s offered, far past what either holds on 2 cores;
#                delivered msg/s is the saturation throughput
#   direct       200 clients in pairs, each sending 50 msg/s to its partner
#   idle         N clients (default 2000; --idle 10000 for the issue's
#                figure), each subscribed and pinged once; server RSS per
#                connection
#   storm        N clients (--storm N, default 1000; the issue's figure is
#                5000), each from its own 127.1.x.y address, subscribed;
#                then SIGTERM to the server and a restart on the same port:
#                time until every client is back (welcomed and subscribed
#                again), HTTP 429s seen (the per-IP limit stays at its
#                default, so any 429 is a false one), the new server's CPU
#
# --before OTHER_BUILDDIR adds a third server, the metered-server of another
# build (an earlier commit), in the same run: columns "before" and
# metered/before. --before-args "ARGS" gives that server extra options;
# alone, it makes "before" this build's server with them (an A/B of one
# option, e.g. --before-args "--write-threads 0").
#
# --floor adds bench/reference/floor-server.c: the least a server can do
# for this traffic (one epoll thread, the frame built once, one write() per
# subscriber, no limits or validation). Not a server: what this machine
# costs, so that a latency no server could beat here is seen as such.
#
# Each server runs on CPU 1 and the load client on CPU 0 (taskset), unless
# --no-pin: on a 2-core box the client stands in for remote machines, and a
# server the scheduler puts on the client's core waits for the client to
# be preempted, which measures the scheduler rather than the server. For
# latency figures on a box that does other work, run the whole script under
# `chrt -f 10` (root): both servers and the client get the same shield.
#
# Every run is at most --duration seconds (default 5) plus a 2 s drain.
# Publishers stay within the server's 100 msg/s per-connection budget by
# being many, not by raising the limit. Needs: a built BUILDDIR (metered-server),
# node and the `ws` package (BUILDDIR/js/node_modules, as scripts/run-tests.sh
# installs it, or NODE_PATH), cc.
#
# Not a test: figures. The short CI version is the meson test `server-load`
# (tests/server/meson.build).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build
if [[ $# -gt 0 && $1 != --* ]]; then build=$1; shift; fi
[[ $build = /* ]] || build=$root/$build
idle=2000
storm=1000
only=
duration=5
before_bin=
before_args=()
floor=
srv_pin=()
cli_pin=()
if [[ $(nproc) -ge 2 ]]; then srv_pin=(taskset -c 1); cli_pin=(taskset -c 0); fi
while [[ $# -gt 0 ]]; do
  case $1 in
    --idle) idle=$2; shift 2 ;;
    --storm) storm=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --before) before_bin=$(cd "$2" && pwd)/src/server/metered-server; shift 2 ;;
    --before-args) read -r -a before_args <<< "$2"; shift 2 ;;
    --no-pin) srv_pin=(); cli_pin=(); shift ;;
    --floor) floor=1; shift ;;
    *) echo "usage: $0 [BUILDDIR] [--idle N] [--only SCENARIO] [--duration S] [--before OTHER_BUILDDIR] [--before-args ARGS] [--no-pin] [--floor]" >&2; exit 2 ;;
  esac
done
server_bin=$build/src/server/metered-server
[[ -n $before_bin || ${#before_args[@]} -eq 0 ]] || before_bin=$server_bin
[[ -x $server_bin ]] || { echo "server-load.sh: $server_bin missing (meson compile -C $build)" >&2; exit 1; }
[[ -z $before_bin || -x $before_bin ]] || { echo "server-load.sh: $before_bin missing" >&2; exit 1; }
kinds=(metered)
[[ -z $before_bin ]] || kinds+=(before)
kinds+=(reference)
[[ -z $floor ]] || kinds+=(floor)
export NODE_PATH=${NODE_PATH:-$build/js/node_modules}
[[ -d $NODE_PATH/ws ]] || { echo "server-load.sh: no ws package in $NODE_PATH (set NODE_PATH)" >&2; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
  wait 2> /dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

cc -O2 -Wall -o "$tmp/server-load" "$root/bench/server-load.c"
[[ -z $floor ]] || cc -O2 -Wall -o "$tmp/floor-server" "$root/bench/reference/floor-server.c" \
  $(pkg-config --cflags --libs glib-2.0)
ulimit -n "$(ulimit -Hn)" 2> /dev/null || true
if (($(ulimit -n) < idle + 200)); then
  echo "server-load.sh: ulimit -n is $(ulimit -n); idle scenario lowered" >&2
  idle=$(($(ulimit -n) / 2 - 200))
fi

# The dev credentials, with room for the idle scenario's connections.
cat > "$tmp/keys.json" << EOF
{"apps":[{"id":"dev","maxConnections":$((idle + storm + 1000)),
  "publishableKeys":[{"key":"pk_dev_local","channels":["**"]}],
  "secrets":[{"kid":"dev","secret":"sk_dev_local"}]}]}
EOF

pick_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

start_server() { # kind [port [metered options]] -> sets srv_pid srv_port
  srv_port=${2:-$(pick_port)}
  local opts=("${@:3}")
  [[ $# -ge 3 ]] || opts=(--ip-connect-limit 0)
  : > "$tmp/server.log"
  if [[ $1 = metered || $1 = before ]]; then
    local bin=$server_bin
    [[ $1 = metered ]] || { bin=$before_bin; opts+=("${before_args[@]}"); }
    "${srv_pin[@]}" "$bin" --keys "$tmp/keys.json" --port "$srv_port" "${opts[@]}" \
      > "$tmp/server.log" 2>&1 &
  elif [[ $1 = floor ]]; then
    "${srv_pin[@]}" "$tmp/floor-server" "$srv_port" > "$tmp/server.log" 2>&1 &
  else
    "${srv_pin[@]}" node "$root/bench/reference/ws-server.mjs" "$srv_port" > "$tmp/server.log" 2>&1 &
  fi
  srv_pid=$!
  pids+=("$srv_pid")
  for _ in $(seq 100); do
    grep -q listening "$tmp/server.log" 2> /dev/null && return 0
    sleep 0.05
  done
  echo "server-load.sh: $1 server did not start:" >&2
  cat "$tmp/server.log" >&2
  exit 1
}

stop_server() {
  kill "$srv_pid" 2> /dev/null || true
  wait "$srv_pid" 2> /dev/null || true
}

declare -A res
run() { # scenario kind args...
  local scenario=$1 kind=$2 line
  shift 2
  start_server "$kind"
  line=$("${cli_pin[@]}" "$tmp/server-load" --port "$srv_port" --server-pid "$srv_pid" --label "$kind" "$@" | grep '^RESULT' || true)
  stop_server
  echo "$scenario $line" >> "$tmp/results"
  res[$scenario/$kind]=$line
}

# The restart: SIGTERM with every client connected, then the same port
# again at once; the per-IP connect limit stays at its default (60/60 s).
run_storm() { # kind
  local kind=$1 lp cpu port
  start_server "$kind" "" --ip-connect-limit 60
  port=$srv_port
  "$tmp/server-load" --port "$port" --server-pid "$srv_pid" --label "$kind" \
    --scenario storm --clients "$storm" --batch 200 --duration 30 \
    > "$tmp/storm.out" 2> "$tmp/storm.err" &
  lp=$!
  for _ in $(seq 600); do
    grep -q READY "$tmp/storm.out" && break
    sleep 0.1
  done
  stop_server
  start_server "$kind" "$port" --ip-connect-limit 60
  wait "$lp" || true
  cpu=$(awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$srv_pid/stat" 2> /dev/null || echo -)
  stop_server
  line="$(grep '^RESULT' "$tmp/storm.out") new_server_cpu_s=$cpu"
  echo "storm $line" >> "$tmp/results"
  res[storm/$kind]=$line
}

get() { # scenario kind key
  local line=${res[$1/$2]:-}
  sed -n "s/.* $3=\([^ ]*\).*/\1/p" <<< " $line"
}

scenarios=(fanout-10k fanout-sat direct idle storm)
for s in "${scenarios[@]}"; do
  [[ -z $only || $only = "$s" ]] || continue
  for kind in "${kinds[@]}"; do
    case $s in
      fanout-10k) run "$s" "$kind" --scenario fanout --subs 100 --pubs 2 --rate 50 --duration "$duration" ;;
      fanout-sat) run "$s" "$kind" --scenario fanout --subs 100 --pubs 50 --rate 80 --duration "$duration" ;;
      direct) run "$s" "$kind" --scenario direct --clients 200 --rate 50 --duration "$duration" ;;
      idle) run "$s" "$kind" --scenario idle --clients "$idle" --duration 2 --batch 200 ;;
      storm) run_storm "$kind" ;;
    esac
  done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
# One column per server, then metered's ratio to each of the others.
others=("${kinds[@]:1}")
printf '\n%-11s %-18s' scenario metric
for kind in "${kinds[@]}"; do printf ' %14s' "$kind"; done
for kind in "${others[@]}"; do printf ' %8s' "m/${kind:0:3}"; done
echo
for s in "${scenarios[@]}"; do
  [[ -n ${res[$s/metered]:-} || -n ${res[$s/reference]:-} ]] || continue
  if [[ $s = idle ]]; then
    keys="clients open connect_s rss_kb kb_per_conn errors"
  elif [[ $s = storm ]]; then
    keys="clients back storm_s http_429 refused errors new_server_cpu_s"
  else
    keys="offered_per_s delivered_per_s delivered_pct p50_ms p99_ms p999_ms first_mean_ms last_mean_ms last_p99_ms events_per_wait errors cpu_us_per_msg rss_kb"
  fi
  for k in $keys; do
    a=$(get "$s" metered "$k")
    printf '%-11s %-18s' "$s" "$k"
    for kind in "${kinds[@]}"; do v=$(get "$s" "$kind" "$k"); printf ' %14s' "${v:--}"; done
    for kind in "${others[@]}"; do printf ' %8s' "$(ratio "$a" "$(get "$s" "$kind" "$k")")"; done
    echo
  done
done
echo
echo "raw:"
cat "$tmp/results"
