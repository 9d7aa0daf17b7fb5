#!/usr/bin/env bash
# gst-metered — LGPL-2.1-or-later
#
# linkem-check.sh PATH/TO/linkem — run inside netns-run.sh's namespace.
# Joins 10.99.0.1 and 10.99.0.2 through linkem's one-namespace mode
# (policy routing; tests/media/impair.cjs uses the two-namespace mode) and
# checks what a user of the link sees:
# 5 % loss loses some packets but not most, a 25 ms one-way delay delays
# them, and the same seed loses the same number twice.
set -euo pipefail
linkem=$1
die() { echo "linkem-check: FAIL: $*" >&2; exit 1; }

ip rule add pref 100 lookup local
ip rule del pref 0
for k in all default v0 v1; do
  sysctl -qw net.ipv4.conf.$k.rp_filter=0 net.ipv4.conf.$k.accept_local=1
done

probe() {
  python3 - << 'PY'
import socket, time
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.bind(('10.99.0.1', 0))
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); b.bind(('10.99.0.2', 0))
b.settimeout(0.3)
got, delays = 0, []
for i in range(400):
    t = time.monotonic(); a.sendto(b'x' * 200, b.getsockname())
    try:
        b.recv(2000); got += 1; delays.append(time.monotonic() - t)
    except socket.timeout:
        pass
delays.sort()
print(got, int(delays[len(delays) // 2] * 1000) if delays else -1)
PY
}

run() {
  coproc LK { "$linkem" --dev lk0 --delay-ms 25 --loss 5 --seed 7; }
  read -r -t 10 line <&"${LK[0]}" || die "linkem did not start"
  [[ $line == ready ]] || die "linkem said: $line"
  ip link set lk0 up
  sysctl -qw net.ipv4.conf.lk0.rp_filter=0 net.ipv4.conf.lk0.accept_local=1
  ip route add 10.99.0.0/24 dev lk0 table 100
  ip rule add pref 50 iif lo to 10.99.0.0/24 lookup 100
  result=$(probe)
  ip rule del pref 50
  exec {out}<&"${LK[0]}"
  eval "exec ${LK[1]}>&-"
  read -r -t 10 stats <&$out || die "linkem printed no stats"
  wait "$LK_PID" || true
  echo "$result | $stats"
}

first=$(run)
second=$(run)
echo "run 1: $first"
echo "run 2: $second"
read -r got delay _ <<< "$first"
((got >= 300 && got < 400)) || die "received $got of 400 at 5 % loss"
((delay >= 25)) || die "median one-way delay $delay ms, expected >= 25"
[[ ${first#* * | } == "${second#* * | }" ]] || die "same seed, different losses: '$first' vs '$second'"
echo "linkem-check: PASS"
