#!/usr/bin/env bash
# gst-metered — LGPL-2.1-or-later
#
# tests/server/server-load-test.sh METERED_SERVER SERVER_LOAD
#
# The CI-sized run of bench/server-load (a few seconds, small N), so that
# the bench cannot rot and what a user of metered-server sees under load
# stays true:
#   1. fan-out: 20 subscribers, 4 publishers x 50 msg/s for 2 s: every
#      message reaches every subscriber exactly once, in order, 0 errors;
#   2. direct: 20 clients in pairs, 50 msg/s each for 1.5 s: every send
#      delivered, 0 errors;
#   3. slow consumer: one of 10 subscribers stops reading; the server
#      (--max-queued-kb 16) closes it with 4013 while the 9 others still
#      get every message, and /metrics counts the close;
#   and after each part the server exits 0 on SIGTERM.
# TAP output.
set -euo pipefail

server_bin=$1
load_bin=$2
tmp=$(mktemp -d)
srv_pid=
cleanup() {
  [[ -n $srv_pid ]] && kill "$srv_pid" 2> /dev/null && wait "$srv_pid" 2> /dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

start() {
  rm -f "$tmp/port"
  "$server_bin" --dev --port 0 --port-file "$tmp/port" --ip-connect-limit 0 "$@" \
    > "$tmp/server.log" 2>&1 &
  srv_pid=$!
  for _ in $(seq 100); do
    [[ -s $tmp/port ]] && break
    sleep 0.05
  done
  port=$(cat "$tmp/port")
}

# SIGTERM; the server must shut down cleanly (exit 0: under ASan, no leak
# and no error report either).
stop() {
  local rc=0
  kill "$srv_pid" 2> /dev/null || true
  wait "$srv_pid" 2> /dev/null || rc=$?
  srv_pid=
  n=$((n + 1))
  if [[ $rc -eq 0 ]]; then
    echo "ok $n - server exits 0 after SIGTERM"
  else
    fails=$((fails + 1))
    echo "not ok $n - server exits 0 after SIGTERM (status $rc)"
    sed 's/^/# /' "$tmp/server.log"
  fi
}

n=0
fails=0
check() { # description command...
  local desc=$1 out
  shift
  n=$((n + 1))
  if out=$("$@" 2>&1); then
    echo "ok $n - $desc"
  else
    fails=$((fails + 1))
    echo "not ok $n - $desc"
    sed 's/^/# /' <<< "$out"
  fi
  grep '^RESULT' <<< "$out" | sed 's/^/# /' || true
}

echo "1..8"
start
check "fan-out: every message to every subscriber exactly once" \
  "$load_bin" --port "$port" --server-pid "$srv_pid" --scenario fanout \
  --subs 20 --pubs 4 --rate 50 --duration 2 --drain 3 --check
check "direct: every send delivered" \
  "$load_bin" --port "$port" --server-pid "$srv_pid" --scenario direct \
  --clients 20 --rate 50 --duration 1.5 --drain 3 --check
stop

# Fan-outs written by the main loop and two helper threads
# (--write-threads): a subscriber's messages still arrive once each, in
# order. 40 subscribers: enough for the helpers to take part.
start --write-threads 2
check "fan-out with write threads: every message to every subscriber once, in order" \
  "$load_bin" --port "$port" --server-pid "$srv_pid" --scenario fanout \
  --subs 40 --pubs 4 --rate 50 --duration 2 --drain 3 --check
stop

start --max-queued-kb 16
check "slow consumer closed 4013, the others get everything" \
  "$load_bin" --port "$port" --server-pid "$srv_pid" --scenario fanout \
  --subs 10 --pubs 4 --rate 80 --payload 300 --duration 3 --drain 3 \
  --stall 1 --check
n=$((n + 1))
metrics=$(python3 -c "import urllib.request,sys; print(urllib.request.urlopen('http://127.0.0.1:$port/metrics').read().decode())")
if grep -q 'metered_closes_total{code="4013"} 1$' <<< "$metrics"; then
  echo "ok $n - /metrics counts the slow-consumer close"
else
  fails=$((fails + 1))
  echo "not ok $n - /metrics counts the slow-consumer close"
  grep closes <<< "$metrics" | sed 's/^/# /'
fi
stop
exit $((fails > 0))
