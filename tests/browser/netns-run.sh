#!/usr/bin/env bash
# gst-metered — LGPL-2.1-or-later
#
# netns-run.sh CMD [ARGS...]
#
# Runs CMD inside a private network namespace that this script creates, so
# that WebRTC media in tests never touches the machine's own interfaces:
#   lo up (127.0.0.1: metered-server binds there) and a veth pair
#   v0 10.99.0.1/24 <-> v1 10.99.0.2/24, both up (libnice and Chromium gather
#   no loopback candidates, so ICE needs a non-loopback interface).
# The namespace disappears with CMD. As root this is `unshare --net`; as
# another user `unshare --map-root-user --net` (a user namespace).
#
# There is no fallback to the host network: if the namespace cannot be made
# or configured, this fails loudly with exit status 1 (never a skip).
set -euo pipefail

die() {
  echo "netns-run.sh: FAIL: $*" >&2
  exit 1
}

[[ $# -ge 1 ]] || die "usage: netns-run.sh CMD [ARGS...]"

if [[ "${METERED_NETNS_STAGE:-}" != inside ]]; then
  command -v unshare > /dev/null || die "unshare not found (Debian package util-linux)"
  command -v ip > /dev/null || die "ip not found (Debian package iproute2)"
  if [[ $(id -u) -eq 0 ]]; then
    flags=(--net)
  else
    flags=(--map-root-user --net)
  fi
  unshare "${flags[@]}" true 2> /dev/null \
    || die "cannot create a network namespace (unshare ${flags[*]}): run as root"
  self=$(readlink -f "${BASH_SOURCE[0]}")
  METERED_NETNS_STAGE=inside exec unshare "${flags[@]}" -- bash "$self" "$@"
fi

# Inside the new namespace: only lo exists, and it is down.
unset METERED_NETNS_STAGE
ip link set lo up || die "ip link set lo up"
ip link add v0 type veth peer name v1 || die "cannot create veth pair v0/v1"
ip addr add 10.99.0.1/24 dev v0 || die "ip addr add 10.99.0.1/24 dev v0"
ip addr add 10.99.0.2/24 dev v1 || die "ip addr add 10.99.0.2/24 dev v1"
ip link set v0 up || die "ip link set v0 up"
ip link set v1 up || die "ip link set v1 up"
export METERED_NETNS=v0=10.99.0.1,v1=10.99.0.2
echo "netns-run.sh: private network namespace: $(ip -brief -4 addr | tr -s ' ' | tr '\n' ';')" >&2
exec "$@"
