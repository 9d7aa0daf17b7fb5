#!/usr/bin/env bash
# gst-metered — LGPL-2.1-or-later
#
# The README's demo command.
#
#   scripts/demo.sh [--browser [--port N]] [--builddir DIR] [--no-build]
#                   [--out DIR] [--help]
#
#   1. installs the Debian packages that are missing and builds build/
#      (scripts/run-tests.sh --build-only --quick), or, with --builddir
#      DIR, compiles DIR (meson setup if it is new);
#   2. headless (the default), inside a private network namespace
#      (tests/browser/netns-run.sh: libnice gathers no loopback
#      candidates): metered-server --dev on 127.0.0.1, a sender
#      (videotestsrc + audiotestsrc -> meteredsink), a receiver
#      (meteredsrc -> matroskamux recording, no decoding, and a live frame
#      counter); cuts the receiver's signalling, restarts the server, and
#      prints a report (frames sent/received/lost, longest gap, reconnect
#      timeline, the recording verified as one continuous file). About
#      20 s after the build; exit status 0 only when recovery behaved.
#      The driver is scripts/demo.py.
#   3. --browser: on this machine's network instead, metered-server on
#      127.0.0.1:N (default 8080) serves examples/viewer/ with the
#      @metered-ca/realtime browser bundle: open http://127.0.0.1:N/ to
#      watch the stream and send your camera back. Runs until Ctrl-C.
#      Needs a network interface other than lo that is up (see
#      examples/viewer/README.md).
#
#   --builddir DIR  use DIR instead of build/ (compiled unless --no-build)
#   --no-build      use the build directory as it is (the tests do)
#   --out DIR       where the recording and the server's log go
#                   (default: a new directory under ${TMPDIR:-/tmp})
set -euo pipefail

usage() {
  sed -n '4,/^set /{/^#/p}' "$0" | sed 's/^# \{0,1\}//'
}

builddir=build
build=1
browser=0
port=8080
out=
while [[ $# -gt 0 ]]; do
  case "$1" in
  --builddir)
    [[ $# -ge 2 ]] || { echo "demo.sh: --builddir needs DIR" >&2; exit 2; }
    builddir=$2
    shift
    ;;
  --builddir=*) builddir=${1#--builddir=} ;;
  --no-build) build=0 ;;
  --browser) browser=1 ;;
  --port)
    [[ $# -ge 2 ]] || { echo "demo.sh: --port needs N" >&2; exit 2; }
    port=$2
    shift
    ;;
  --out)
    [[ $# -ge 2 ]] || { echo "demo.sh: --out needs DIR" >&2; exit 2; }
    out=$2
    shift
    ;;
  -h | --help) usage; exit 0 ;;
  *) echo "demo.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
builddir=$(cd "$(dirname "$builddir")" && echo "$PWD/$(basename "$builddir")")

die() { echo "demo.sh: FAIL: $*" >&2; exit 1; }

if [[ $build -eq 1 ]]; then
  if [[ $builddir == "$root/build" ]]; then
    # Packages, build/ and the npm packages, as the test command does.
    scripts/run-tests.sh --build-only --quick
  else
    [[ -f $builddir/build.ninja ]] || meson setup "$builddir" -Dwerror=true
    meson compile -C "$builddir"
  fi
fi

server=$builddir/src/server/metered-server
[[ -x $server ]] || die "$server is not built (run without --no-build)"
[[ -f $builddir/gst/libgstmetered.so ]] || die "$builddir/gst/libgstmetered.so is not built"
python=/usr/bin/python3
"$python" -c 'import gi' 2> /dev/null || die "python3-gi is missing (apt-get install python3-gi)"

export GST_PLUGIN_PATH=$builddir/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}
export GST_REGISTRY=${GST_REGISTRY:-$builddir/demo-registry.bin}
[[ -n $out ]] || out=$(mktemp -d "${TMPDIR:-/tmp}/metered-demo-XXXXXX")
mkdir -p "$out"

# A sanitized build (the tests' build-asan/) runs the uninstrumented
# interpreter with the sanitizer runtimes preloaded (METERED_DEMO_PRELOAD).
run_python=("$python")
if [[ -n ${METERED_DEMO_PRELOAD:-} ]]; then
  run_python=(env "LD_PRELOAD=$METERED_DEMO_PRELOAD" "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$python")
fi

if [[ $browser -eq 1 ]]; then
  sdk=$builddir/js/node_modules/@metered-ca/realtime/dist/index.umd.js
  [[ -f $sdk ]] || die "$sdk is missing: the npm packages come with scripts/run-tests.sh --build-only"
  exec "${run_python[@]}" scripts/demo.py --browser --server "$server" --port "$port" \
    --viewer "$root/examples/viewer" --sdk "$sdk" --out "$out"
fi

t0=$SECONDS
rc=0
tests/browser/netns-run.sh "${run_python[@]}" scripts/demo.py --server "$server" --out "$out" || rc=$?
echo "demo wall time $((SECONDS - t0)) s (after the build); exit status $rc"
exit $rc
