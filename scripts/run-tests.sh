#!/usr/bin/env bash
# gst-metered — LGPL-2.1-or-later
#
# The project's test command (README.md; CI runs it through .ci/run).
#
#   scripts/run-tests.sh [--quick] [--suite NAME]... [--no-install] [--help]
#
#   1. installs the Debian packages the build and the tests need, if any is
#      missing (apt-get update once, then apt-get install; needs root);
#   2. builds build/ (-Dwerror=true) and build-asan/ (AddressSanitizer +
#      UndefinedBehaviorSanitizer), reusing existing build directories;
#   3. installs the npm packages of tests/js (the real @metered-ca/realtime
#      SDK, ws, playwright-core) into <builddir>/js/node_modules with npm ci;
#   4. runs `meson test` in build/, then in build-asan/ with leak detection
#      (tests/lsan.supp), C client/server tests under valgrind; prints counts.
#   5. builds build-fuzz/ (clang, -Dfuzz=true) and runs each libFuzzer target
#      for 15 s (scripts/run-fuzz.sh); not with --quick/--suite.
#
#   --quick        skip build-asan/ and valgrind (build and test build/ only)
#   --suite NAME   run only meson test suite NAME (repeatable; passed through)
#   --no-install   never call apt-get (fail if a package is missing)
#   --build-only   install and build, run no test (scripts/demo.sh uses it)
#
# Exit status: 0 when every test run passed, non-zero otherwise.
set -euo pipefail

usage() {
  sed -n '4,24p' "$0" | sed 's/^# \{0,1\}//'
}

quick=0
no_install=0
build_only=0
suite_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
  --quick) quick=1 ;;
  --no-install) no_install=1 ;;
  --build-only) build_only=1 ;;
  --suite)
    [[ $# -ge 2 ]] || { echo "run-tests.sh: --suite needs a NAME" >&2; exit 2; }
    suite_args+=(--suite "$2")
    shift
    ;;
  --suite=*) suite_args+=(--suite "${1#--suite=}") ;;
  -h | --help) usage; exit 0 ;;
  *) echo "run-tests.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
t_start=$SECONDS

say() { printf '\n==> %s\n' "$*"; }
die() { echo "run-tests.sh: FAIL: $*" >&2; exit 1; }
elapsed() { local s=$((SECONDS - $1)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

# ---------------------------------------------------------------- packages --
apt_packages=(
  meson ninja-build pkg-config gcc clang libclang-rt-14-dev
  libglib2.0-dev libsoup-3.0-dev libjson-glib-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-nice gstreamer1.0-tools gstreamer1.0-plugins-base-apps libnice-dev
  gobject-introspection libgirepository1.0-dev python3-gi python3-gst-1.0
  chromium iproute2 util-linux clang-format valgrind
  redis-server
  libhiredis-dev
)

install_packages() {
  local missing=() p
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2> /dev/null | grep -q ' installed$' || missing+=("$p")
  done
  # Node.js and npm are checked as commands: a machine's own Node.js package
  # (which bundles npm) conflicts with Debian's separate npm package.
  command -v node > /dev/null || missing+=(nodejs)
  command -v npm > /dev/null || missing+=(npm)
  if [[ ${#missing[@]} -eq 0 ]]; then
    echo "all ${#apt_packages[@]} Debian packages, node and npm are present"
    return
  fi
  echo "missing: ${missing[*]}"
  [[ $no_install -eq 0 ]] || die "--no-install given and packages are missing: ${missing[*]}"
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo > /dev/null || die "not root and no sudo: apt-get install ${missing[*]}"
    sudo=(sudo -n)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q < /dev/null
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" < /dev/null
}

say "Debian packages"
install_packages
node_major=$(node -p 'process.versions.node.split(".")[0]')
echo "node $(node --version), npm $(npm --version 2> /dev/null), $(meson --version | sed 's/^/meson /'), $(/usr/bin/chromium --version 2> /dev/null | head -n 1)"
[[ $node_major -ge 20 ]] || echo "warning: node $(node --version) is older than playwright-core's minimum (20)"

# ------------------------------------------------------------------ builds --
# setup_builddir DIR MESON-OPTIONS...: a new directory is set up; an existing
# one is reconfigured with the same options (a broken one is wiped).
setup_builddir() {
  local dir=$1
  shift
  if [[ -f "$dir/meson-private/coredata.dat" ]]; then
    meson setup --reconfigure "$dir" "$@" || meson setup --wipe "$dir" "$@"
  else
    rm -rf "$dir"
    meson setup "$dir" "$@"
  fi
}

# install_js DIR: npm packages of tests/js into DIR/js/node_modules (the
# NODE_PATH that tests/meson.build gives the Node.js tests). Skipped when
# package.json and the lock file are unchanged since the last install.
install_js() {
  local dest=$1/js stamp want
  stamp=$dest/.installed-from
  want=$(cat tests/js/package.json tests/js/package-lock.json 2> /dev/null | sha256sum | cut -d' ' -f1)
  if [[ -d $dest/node_modules && -f $stamp && $(cat "$stamp") == "$want" ]]; then
    echo "$dest/node_modules is up to date"
    return
  fi
  mkdir -p "$dest"
  rm -f "$stamp"
  cp tests/js/package.json "$dest/"
  if [[ -f tests/js/package-lock.json ]]; then
    cp tests/js/package-lock.json "$dest/"
    (cd "$dest" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error < /dev/null)
  else
    (cd "$dest" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --loglevel=error < /dev/null)
  fi
  echo "$want" > "$stamp"
}

# run_tests DIR: meson test in DIR; records its status, never exits.
declare -A status
run_tests() {
  local dir=$1 t=$SECONDS
  say "meson test -C $dir ${suite_args[*]}"
  if meson test -C "$dir" --no-rebuild --print-errorlogs "${suite_args[@]}" < /dev/null; then
    status[$dir]=0
  else
    status[$dir]=$?
  fi
  echo "$dir: meson test exit status ${status[$dir]}, wall time $(elapsed "$t")"
}

build_dirs=(build)
[[ $quick -eq 1 ]] || build_dirs+=(build-asan)

for dir in "${build_dirs[@]}"; do
  t=$SECONDS
  case "$dir" in
  build)
    say "build/: meson setup -Dwerror=true"
    setup_builddir build -Dwerror=true
    ;;
  build-asan)
    say "build-asan/: meson setup -Db_sanitize=address,undefined"
    setup_builddir build-asan -Db_sanitize=address,undefined -Db_lundef=false
    ;;
  esac
  meson compile -C "$dir"
  install_js "$dir"
  echo "$dir built in $(elapsed "$t")"
done

[[ $build_only -eq 0 ]] || { echo "built (--build-only): no test run"; exit 0; }

run_tests build

# valgrind memcheck (the `valgrind` test setup of meson.build, suppressions
# tests/valgrind.supp) over the C programs of the client and server suites,
# and the metered-server they start. About 1 min; not with --quick/--suite.
valgrind_tests=(server-hub client-unit client-integration client-cycles)
if [[ $quick -eq 0 && ${#suite_args[@]} -eq 0 ]]; then
  t=$SECONDS
  say "meson test -C build --setup valgrind ${valgrind_tests[*]}"
  if meson test -C build --no-rebuild --print-errorlogs --setup valgrind \
    "${valgrind_tests[@]}" < /dev/null; then
    status[valgrind]=0
  else
    status[valgrind]=$?
  fi
  echo "valgrind: meson test exit status ${status[valgrind]}, wall time $(elapsed "$t")"
fi

# libFuzzer: every target of tests/fuzz for 15 s from its seed corpus
# (scripts/run-fuzz.sh, clang, build-fuzz/); about 2.5 min with the build
# (a smoke run in CI; long runs: scripts/run-fuzz.sh 600).
if [[ $quick -eq 0 && ${#suite_args[@]} -eq 0 ]]; then
  t=$SECONDS
  say "scripts/run-fuzz.sh 15 (build-fuzz/)"
  if scripts/run-fuzz.sh 15 < /dev/null; then
    status[fuzz]=0
  else
    status[fuzz]=$?
  fi
  echo "fuzz: exit status ${status[fuzz]}, wall time $(elapsed "$t")"
fi

if [[ $quick -eq 0 ]]; then
  # Sanitizers stop at the first error; LeakSanitizer runs at every exit of
  # an instrumented program, with the suppressions of tests/lsan.supp (GLib
  # 2.74's slice allocator is bypassed so that every block is visible).
  export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1:print_summary=1:fast_unwind_on_malloc=0
  export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1:print_summary=1
  export LSAN_OPTIONS=suppressions=$root/tests/lsan.supp:print_suppressions=0
  export G_SLICE=always-malloc G_DEBUG=gc-friendly
  run_tests build-asan
fi

# ----------------------------------------------------------------- summary --
# Counts from meson's own log (meson-logs/testlog.json, one JSON per test).
say "summary"
total_pass=0 total_fail=0 total_skip=0 rc=0
for dir in "${build_dirs[@]}"; do
  counts=$(python3 - "$dir/meson-logs/testlog.json" << 'EOF'
import json, sys
p = f = s = 0
bad = []
try:
    lines = open(sys.argv[1]).read().splitlines()
except OSError:
    lines = []
for line in lines:
    if not line.strip():
        continue
    t = json.loads(line)
    r = t.get("result")
    if r in ("OK", "EXPECTEDFAIL"):
        p += 1
    elif r == "SKIP":
        s += 1
    else:
        f += 1
        bad.append(f"{t.get('name')} ({r})")
print(p, f, s, "; ".join(bad))
EOF
  )
  read -r p f s bad <<< "$counts"
  echo "$dir: ${p} passed, ${f} failed, ${s} skipped (meson test exit status ${status[$dir]})${bad:+ — failed: $bad}"
  total_pass=$((total_pass + p))
  total_fail=$((total_fail + f))
  total_skip=$((total_skip + s))
  [[ ${status[$dir]} -eq 0 ]] || rc=1
done
[[ $quick -eq 0 ]] || echo "build-asan: not run (--quick)"
if [[ -n ${status[valgrind]:-} ]]; then
  echo "valgrind (build/, ${valgrind_tests[*]}): meson test exit status ${status[valgrind]}"
  [[ ${status[valgrind]} -eq 0 ]] || rc=1
fi
if [[ -n ${status[fuzz]:-} ]]; then
  echo "fuzz (build-fuzz/, scripts/run-fuzz.sh 15): exit status ${status[fuzz]}"
  [[ ${status[fuzz]} -eq 0 ]] || rc=1
fi
if [[ $((total_pass + total_fail)) -eq 0 ]]; then
  echo "no test ran"
  rc=1
fi
echo "total wall time $(elapsed "$t_start")"
echo "tests: ${total_pass} passed, ${total_fail} failed, ${total_skip} skipped"
exit $rc
