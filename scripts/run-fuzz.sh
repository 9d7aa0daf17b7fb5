#!/usr/bin/env bash
# gst-metered — LGPL-2.1-or-later
#
# Builds the libFuzzer targets of tests/fuzz (clang, -Dfuzz=true) and runs
# each one for a bounded time from its seed corpus and dictionary; fails on
# any crash, leak, sanitizer report or broken invariant. scripts/run-tests.sh
# runs it; it also works alone.
#
#   scripts/run-fuzz.sh [SECONDS-PER-TARGET]      (default 30)
#
#   FUZZ_BUILDDIR   build directory (default build-fuzz)
#   FUZZ_TARGETS    space-separated subset of the targets
#   FUZZ_RUNS       also stop each target after this many executions (the
#                   long run of bench/fuzz.md: FUZZ_RUNS=10000000 with a
#                   large SECONDS-PER-TARGET)
#
# New inputs go to a scratch corpus in the build directory, never into
# tests/fuzz/corpus; a crash leaves its input as
# $FUZZ_BUILDDIR/fuzz-out/<target>/crash-* (add it to the seed corpus once
# fixed, so the replay in `meson test --suite fuzz` keeps it fixed).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-30}
builddir=${FUZZ_BUILDDIR:-build-fuzz}
targets=(${FUZZ_TARGETS:-fuzz-client-frame fuzz-server-frame fuzz-jwt fuzz-ice-servers
  fuzz-json-scan fuzz-hub fuzz-sdp fuzz-peer-payload fuzz-ws-frame})
t0=$SECONDS

if [[ -f $builddir/meson-private/coredata.dat ]]; then
  meson setup --reconfigure "$builddir" -Dfuzz=true -Dtests=false > /dev/null ||
    { rm -rf "$builddir"; CC=clang meson setup "$builddir" -Dfuzz=true -Dtests=false > /dev/null; }
else
  rm -rf "$builddir"
  CC=clang meson setup "$builddir" -Dfuzz=true -Dtests=false > /dev/null
fi
# Only the fuzz targets and what they link, not the plugin.
ninja -C "$builddir" "${targets[@]/#/tests/fuzz/}" > /dev/null
echo "built ${#targets[@]} fuzz targets in $((SECONDS - t0)) s"

rc=0
printf '%-18s %12s %10s %8s %s\n' target executions exec/s corpus result
for t in "${targets[@]}"; do
  dict=tests/fuzz/frames.dict
  max_len=4096
  # Chromium's SDP seeds are up to 7 KB.
  [[ $t == fuzz-sdp || $t == fuzz-peer-payload ]] && dict=tests/fuzz/sdp.dict && max_len=8192
  out=$builddir/fuzz-out/$t
  rm -rf "$out"
  mkdir -p "$out/corpus"
  # -max_len bounds an input's cost. Leaks count.
  if "$builddir/tests/fuzz/$t" -max_total_time="$seconds" -runs="${FUZZ_RUNS:--1}" -max_len="$max_len" \
    -print_final_stats=1 -artifact_prefix="$out/" -dict="$dict" \
    "$out/corpus" "tests/fuzz/corpus/$t" > "$out/log" 2>&1 < /dev/null; then
    result=ok
  else
    result="CRASH (see $out/log)"
    rc=1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/log")
  corpus=$(find "$out/corpus" -type f | wc -l)
  printf '%-18s %12s %10s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$corpus" "$result"
  if [[ $result != ok ]]; then
    grep -m 20 -E 'ERROR|SUMMARY|invariant|CRITICAL|WARNING|Test unit written' "$out/log" || tail -n 20 "$out/log"
  fi
done
echo "fuzz: ${#targets[@]} targets x ${seconds} s, wall time $((SECONDS - t0)) s, exit status $rc"
exit $rc
