#!/usr/bin/env bash
# Podman for Overdrive's container runs (LaunchSpec::container: the executor runs a run's command
# inside `podman run`), set up on a machine like the development and CI VMs (Debian bookworm,
# root, no image registry reachable; see ../shared/notes/containers.md).
#   scripts/podman.sh setup       install podman & co. if missing (scripts/deps.sh podman), write
#                                 Overdrive's containers.conf (below), then `check` (idempotent)
#   scripts/podman.sh check       run `true` in the base image (or `podman info` without one) with
#                                 that configuration; says what is wrong when it fails
#   scripts/podman.sh base-image  build the small test base image (Debian minbase + python3 and
#                                 python3-venv, from the Debian mirror apt uses here) with
#                                 mmdebstrap and import it as
#                                 localhost/overdrive-base:bookworm-<recipe hash>, aliased
#                                 localhost/overdrive-base:latest; prints the image name. Skips the
#                                 build when that tag exists (about 45 s the first time).
#   scripts/podman.sh conf        print the path of Overdrive's containers.conf
#
# Where Overdrive's containers.conf lives, and how podman gets it: the executor (the shim, and
# the Slurm batch script on the node) runs podman with CONTAINERS_CONF set to the first of
# $OVERDRIVE_CONTAINERS_CONF, /etc/overdrive/containers.conf,
# ${XDG_CONFIG_HOME:-$HOME/.config}/overdrive/containers.conf that exists (src/executor/
# container.hpp, ContainersConfCandidates), unless CONTAINERS_CONF is already set. With
# CONTAINERS_CONF podman reads only that file, so it is complete on its own. As root this script
# writes the /etc one, otherwise the one in the home folder (rootless podman: its own images).
set -euo pipefail
cd "$(dirname "$0")/.."

base_repo=localhost/overdrive-base
suite=bookworm
# python3-venv: environments with an image and a conda file make their venv with the image's
# Python (venv + ensurepip, which Debian ships apart).
packages=python3,python3-venv

die() {
  echo "podman.sh: $*" >&2
  exit 1
}

conf_path() {
  if [[ -n ${OVERDRIVE_CONTAINERS_CONF:-} ]]; then
    echo "$OVERDRIVE_CONTAINERS_CONF"
  elif [[ $(id -u) -eq 0 ]]; then
    echo /etc/overdrive/containers.conf
  else
    echo "${XDG_CONFIG_HOME:-$HOME/.config}/overdrive/containers.conf"
  fi
}

# A limit for the containers' processes that this machine lets podman grant: the hard limit of
# this shell, capped. Podman's own default (nofile=1048576 for root) is above the hard limit of
# these VMs, and root here lacks CAP_SYS_RESOURCE to raise it, so every `podman run` failed.
limit() {
  local hard=$1 cap=$2
  if [[ $hard == unlimited || $hard -gt $cap ]]; then echo "$cap"; else echo "$hard"; fi
}

write_conf() {
  local path nofile nproc tmp
  path=$(conf_path)
  nofile=$(limit "$(ulimit -Hn)" 65536)
  nproc=$(limit "$(ulimit -Hu)" 32768)
  tmp=$(mktemp)
  cat >"$tmp" <<EOF
# Written by overdrive's scripts/podman.sh setup: how Overdrive runs podman on this machine.
# Podman reads only this file when CONTAINERS_CONF names it (the executor sets it).
[containers]
# The hard limits of this machine (ulimit -Hn / -Hu at setup, capped): podman's defaults are
# above them and podman may not raise a hard limit, so containers would not start.
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]
# Debian ships catatonit (--init: a PID 1 that forwards SIGTERM to the command) here.
init_path = "/usr/bin/catatonit"
log_driver = "k8s-file"

[engine]
# runc, not crun: Debian's crun 1.8 refuses a machine whose cgroups are in hybrid mode (v1
# controllers plus a v2 /sys/fs/cgroup/unified), as these VMs are, while runc runs on v1,
# hybrid and v2 alike. The other workaround (podman in a private mount namespace with the
# unified hierarchy unmounted) would wrap every podman call in a root-only unshare.
runtime = "runc"
# No systemd or journald on these machines.
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
  if ! cmp -s "$tmp" "$path" 2>/dev/null; then
    mkdir -p "$(dirname "$path")"
    install -m 0644 "$tmp" "$path"
    echo "podman.sh: wrote $path" >&2
  fi
  rm -f "$tmp"
}

podman_conf() {
  CONTAINERS_CONF=$(conf_path) podman "$@"
}

# The recipe of the base image; its hash names the image, so a change here builds a new one.
mirror() {
  # The mirror apt uses for the main archive (deb822 .sources first, then one-line .list).
  local m
  m=$(grep -hs '^URIs:' /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list.d/*.sources |
    awk '{print $2}' | grep -v -e security -e '^$' | grep -m1 debian || true)
  if [[ -z $m ]]; then
    m=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
      awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' |
      grep -v security | grep -m1 debian || true)
  fi
  echo "${m:-http://deb.debian.org/debian}"
}

recipe() {
  printf 'mmdebstrap --variant=minbase --include=%s --architectures=%s %s %s\n' "$packages" \
    "$(dpkg --print-architecture)" "$suite" "$(mirror)"
  printf 'recipe-version 1\n'
}

base_image() {
  command -v podman >/dev/null || die "podman is not installed: scripts/podman.sh setup"
  local hash tag rootfs start
  hash=$(recipe | sha256sum | cut -c1-12)
  tag="$base_repo:$suite-$hash"
  # Two test runs may start at once: one builds, the other waits for it.
  mkdir -p /tmp/overdrive-podman
  exec 9>"/tmp/overdrive-podman/base-image.$(id -u).lock"
  flock 9
  if ! podman_conf image exists "$tag"; then
    command -v mmdebstrap >/dev/null || scripts/deps.sh podman >&2
    start=$SECONDS
    echo "podman.sh: building $tag from $(mirror) (mmdebstrap, about a minute)" >&2
    rootfs=$(mktemp -d /var/tmp/overdrive-base.XXXXXX)
    # shellcheck disable=SC2064
    trap "rm -rf '$rootfs'" EXIT
    # --mode=root as root (unshare otherwise); the result is a directory tree that is imported.
    if ! mmdebstrap --quiet --variant=minbase --include="$packages" \
        --architectures="$(dpkg --print-architecture)" "$suite" "$rootfs" "$(mirror)" \
        >"$rootfs.log" 2>&1; then
      tail -n 20 "$rootfs.log" >&2
      rm -f "$rootfs.log"
      die "mmdebstrap failed (is $(mirror) reachable? apt-get update tells)"
    fi
    rm -f "$rootfs.log"
    tar -C "$rootfs" -c . | podman_conf import --quiet \
      --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      - "$tag" >/dev/null || die "podman import of $tag failed"
    rm -rf "$rootfs"
    trap - EXIT
    echo "podman.sh: built $tag in $((SECONDS - start)) s" >&2
  fi
  # The stable alias follows the current recipe.
  local want have
  want=$(podman_conf image inspect --format '{{.Id}}' "$tag")
  have=$(podman_conf image inspect --format '{{.Id}}' "$base_repo:latest" 2>/dev/null || true)
  [[ $want == "$have" ]] || podman_conf tag "$tag" "$base_repo:latest"
  echo "$tag"
}

check() {
  command -v podman >/dev/null || die "podman is not installed: scripts/podman.sh setup"
  local path out
  path=$(conf_path)
  [[ -f $path ]] || die "$path is missing: scripts/podman.sh setup writes it"
  if podman_conf image exists "$base_repo:latest"; then
    if ! out=$(podman_conf run --rm --pull=never --init --network none "$base_repo:latest" \
        /bin/sh -c 'python3 -c "print(1)"' 2>&1) || [[ $out != 1 ]]; then
      echo "$out" >&2
      die "podman cannot run a container with $path (see above)"
    fi
    echo "podman.sh: podman runs containers ($path)" >&2
  else
    if ! out=$(podman_conf info 2>&1); then
      echo "$out" >&2
      die "podman info fails with $path (see above)"
    fi
    echo "podman.sh: podman works ($path); no base image yet (scripts/podman.sh base-image)" >&2
  fi
}

setup() {
  if ! command -v podman >/dev/null || ! command -v runc >/dev/null ||
      ! command -v mmdebstrap >/dev/null || ! command -v catatonit >/dev/null; then
    scripts/deps.sh podman >&2
  fi
  write_conf
  check
}

case "${1:-}" in
  setup) setup ;;
  check) check ;;
  base-image) base_image ;;
  conf) conf_path ;;
  *) echo "usage: scripts/podman.sh setup|check|base-image|conf" >&2; exit 2 ;;
esac
