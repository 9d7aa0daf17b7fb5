#!/usr/bin/env bash
# gst-metered — LGPL-2.1-or-later
#
# bench/ice-restart.sh [--runs N] [--cuts LIST] [--dirs LIST] [--builddir DIR]
#                      [--before probe|no-restart|main|held] [--cut link|path]
#
# How fast media comes back after the box's link is cut (issue 14), before
# and after ICE restarts, in one run: tests/ice/ice-cut.cjs (two network
# namespaces joined by the veth pair, metered-peer-tool as the box in one
# with its signalling and media on the link, Chromium with the real SDK
# and metered-server in the other) for each direction (--dirs, default
# to-browser,from-browser) and cut length (--cuts, seconds, default
# 5,15,40), N runs each (default 5), the direction gst-to-gst
# (tests/ice/ice-cut-gst.cjs: the same cuts, the sending box toward a
# receiving metered-peer-tool beside the server; not in the default
# --dirs), and the direction address-change:
# tests/ice/ice-netchange.cjs, the sending box's address removed and a new
# one added a second later (reported as cut "1"), and the direction
# path-change: tests/ice/ice-netchange-path.cjs, a box with two addresses
# and two gst viewers loses the one only v-near's path uses (cut "1"; the
# time runs from the removal; lost counts v-near's frames; v-far's
# longest gap is in the JSON); twice:
#   before  METERED_NO_SIGNALLING_PROBE=1: the behaviour of main ffdf50a
#           (ICE restarts, but a socket the cut stalled is only noticed by
#           the 60 s inactivity watchdog); with --before no-restart
#           METERED_NO_ICE_RESTART=1 as well (main 2465760: no restart of
#           ours, Chromium's restart offers left unanswered); for
#           address-change METERED_NO_WATCH_NETWORK=1 (nothing tells the
#           box; main 917e4d8);
#           with --before held, for every direction only
#           METERED_NO_HELD_CREDENTIALS=1 (main 0fee05f: our restart
#           switches the agent to its new credentials at once, so the old
#           pair no longer answers the remote's checks until the answer);
#           with --before main, for every direction only
#           METERED_NO_PATH_RECOVERY=1 METERED_NO_SYN_BOUND=1 (main
#           0c255d2: a network change reconnects signalling or does
#           nothing, and a probe attempt's unanswered SYN waits for the
#           kernel's resend);
#   after   this tree.
# --cut: how the link is cut (tests/ice/ice-lib.cjs, METERED_ICE_CUT):
# link (default) pulls the cable, so the browser's host sees its own
# interface go and come back; path drops every packet at both ends and
# neither host sees a change (an uplink failing behind the box's router).
# Per scenario: min / median / max of the time from the link coming back
# (address-change: the new address being up) to the first new decoded frame at the receiver, of the frames not
# decoded (30 fps over cut + recovery, minus those decoded), and what
# brought the media back in each run (none: the old pair came back by
# itself; restart(local|remote); swap). A run that did not recover within
# 60 s counts as "fail".
#
# Needs a built tree (default build/, with build/js from
# scripts/run-tests.sh). Not a test: figures.
set -euo pipefail

runs=5
cuts=5,15,40
dirs=to-browser,from-browser,address-change
builddir=build
before=probe
cut_method=link
while [[ $# -gt 0 ]]; do
  case "$1" in
  --runs) runs=$2; shift ;;
  --cuts) cuts=$2; shift ;;
  --dirs) dirs=$2; shift ;;
  --builddir) builddir=$2; shift ;;
  --before) before=$2; shift ;;
  --cut) cut_method=$2; shift ;;
  -h | --help) sed -n '4,52p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "ice-restart.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ $builddir == /* ]]; then build=$builddir; else build=$root/$builddir; fi
tool=$build/tests/peer/metered-peer-tool
for f in "$build/src/server/metered-server" "$tool" "$build/js/node_modules"; do
  [[ -e $f ]] || { echo "ice-restart.sh: $f missing (build $build first)" >&2; exit 1; }
done
out=$(mktemp /tmp/metered-ice-bench-XXXXXX)
trap 'rm -f "$out"' EXIT

echo "ice-restart.sh: $runs runs, cuts $cuts s, directions $dirs, before=$before, cut=$cut_method; $(uptime)"
for mode in before after; do
  for dir in ${dirs//,/ }; do
    for run in $(seq "$runs"); do
      env=(METERED_SERVER="$build/src/server/metered-server" NODE_PATH="$build/js/node_modules"
        METERED_SOURCE_ROOT="$root" METERED_BUILD_ROOT="$build"
        METERED_ICE_JSON=1 METERED_ICE_CUT="$cut_method" METERED_ICE_CUTS="$cuts" METERED_ICE_RECOVER_S=60 METERED_ICE_LIMIT_S=600)
      script=ice-cut.cjs dir_cuts=$cuts
      [[ $dir == path-change ]] && script=ice-netchange-path.cjs dir_cuts=1
      if [[ $mode == before && $before == held ]]; then
        env+=(METERED_NO_HELD_CREDENTIALS=1)
        [[ $dir == gst-to-gst ]] && script=ice-cut-gst.cjs
        [[ $dir == address-change ]] && script=ice-netchange.cjs dir_cuts=1
      elif [[ $mode == before && $before == main ]]; then
        env+=(METERED_NO_PATH_RECOVERY=1 METERED_NO_SYN_BOUND=1)
        [[ $dir == gst-to-gst ]] && script=ice-cut-gst.cjs
        [[ $dir == address-change ]] && script=ice-netchange.cjs dir_cuts=1
      elif [[ $dir == path-change ]]; then
        [[ $mode == before ]] && env+=(METERED_NO_PATH_RECOVERY=1 METERED_NO_SYN_BOUND=1)
      elif [[ $dir == gst-to-gst ]]; then
        # Toward another gst element (tests/ice/ice-cut-gst.cjs).
        script=ice-cut-gst.cjs
        [[ $mode == before ]] && env+=(METERED_NO_SIGNALLING_PROBE=1)
        [[ $mode == before && $before == no-restart ]] && env+=(METERED_NO_ICE_RESTART=1)
      elif [[ $dir == address-change ]]; then
        script=ice-netchange.cjs dir_cuts=1
        [[ $mode == before ]] && env+=(METERED_NO_WATCH_NETWORK=1)
      elif [[ $mode == before ]]; then
        env+=(METERED_NO_SIGNALLING_PROBE=1)
        [[ $before == no-restart ]] && env+=(METERED_NO_ICE_RESTART=1)
      fi
      log=$(env "${env[@]}" "$root/tests/browser/netns-run.sh" node "$root/tests/ice/$script" \
        "$tool" "$dir" 2>&1 || true)
      grep -o 'ICE-RESULT .*' <<< "$log" | sed "s/^ICE-RESULT /$mode /; s/}\$/,\"run\":$run}/" >> "$out" || true
      grep -q 'PASS ice' <<< "$log" || grep -E 'FAIL' <<< "$log" | head -3 | sed "s/^/  $mode $dir run $run: /" >&2
      # A run stops at the first cut that does not recover within 60 s:
      # that cut and the ones after it count as failed.
      for cut in ${dir_cuts//,/ }; do
        grep -q "^$mode .*\"dir\":\"$dir\",\"cut\":$cut,.*\"run\":$run\b" "$out" \
          || echo "$mode {\"dir\":\"$dir\",\"cut\":$cut,\"fail\":true,\"run\":$run}" >> "$out"
      done
      echo "  $mode $dir run $run done ($(uptime | sed 's/.*load/load/'))" >&2
    done
  done
done

python3 - "$out" "$cuts" "$dirs" <<'PY'
import json, statistics, sys
lines = [l.split(' ', 1) for l in open(sys.argv[1]) if l.strip()]
cuts = [int(c) for c in sys.argv[2].split(',')]
dirs = sys.argv[3].split(',')
rows = {}
for mode, text in lines:
    r = json.loads(text)
    rows.setdefault((mode, r['dir']), []).append(r)
def mmm(v):
    if not v:
        return '-'
    return f"{min(v)} / {statistics.median(v):g} / {max(v)}"
print(f"{'direction':<13} {'cut':>4}  {'mode':<6} {'back -> first frame ms (min/med/max)':<38} {'frames lost (min/med/max)':<27} how")
for d in dirs:
    for c in ([1] if d in ('address-change', 'path-change') else cuts):
        for mode in ('before', 'after'):
            rs = rows.get((mode, d), [])
            ok = [r for r in rs if not r.get('fail') and r['cut'] == c]
            fails = sum(1 for r in rs if r.get('fail') and r['cut'] == c)
            how = {}
            for r in ok:
                how[r['how']] = how.get(r['how'], 0) + 1
            if fails:
                how['fail'] = fails
            hows = ', '.join(f"{k} x{v}" for k, v in sorted(how.items()))
            print(f"{d:<13} {c:>3}s  {mode:<6} {mmm([r['recoverMs'] for r in ok]):<38} {mmm([r['lost'] for r in ok]):<27} {hows}")
PY
echo "$(uptime)"
