#!/usr/bin/env bash
# Installs what Overdrive needs from Debian's packages, only when something is missing
# (idempotent: a second run installs nothing and takes well under a second).
#   scripts/deps.sh build   compiler, libraries, test frameworks (make build)
#   scripts/deps.sh test    build + what the examples run with (their end-to-end tests) + the
#                           PostgreSQL server the store's conformance tests start + Slurm and
#                           munge (the Slurm executor's tests) + Podman (container runs' tests)
#   scripts/deps.sh postgres  only the PostgreSQL server (scripts/postgres.sh start)
#   scripts/deps.sh slurm   only Slurm and munge (scripts/slurm.sh start: a one-node test cluster)
#   scripts/deps.sh podman  only Podman and what container runs need (scripts/podman.sh setup)
#   scripts/deps.sh demo    build + what the examples run with (Debian's python3, scikit-learn,
#                           PyTorch and the Fashion-MNIST data)
#   scripts/deps.sh bench   demo + the peers and tools bench/ compares with (Optuna, wrk)
#   scripts/deps.sh fuzz    build + clang and its libFuzzer runtime
# As a non-root user it prints the one apt-get line to run and exits 1.
set -euo pipefail

build_pkgs=(cmake ninja-build g++ make pkg-config git
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libcpp-httplib-dev libsqlite3-dev libssl-dev
  libfmt-dev libarchive-dev libeigen3-dev libre2-dev libgtest-dev libgmock-dev libbenchmark-dev
  libxgboost-dev libpq-dev python3 python3-xgboost
  chromium  # Debian's Chromium: the dashboard's browser tests (tests/web)
  rclone)  # moves a job's data to and from blob, S3 and local datastores (src/data)
demo_pkgs=(python3-sklearn python3-numpy
  python3-torch dataset-fashion-mnist)  # examples/fashion-mnist-cnn (PyTorch on CPU, the data)
bench_pkgs=(python3-optuna python3-scipy wrk time)
fuzz_pkgs=(clang libclang-rt-14-dev)
postgres_pkgs=(postgresql)
slurm_pkgs=(slurm-wlm munge)
# Container runs (scripts/podman.sh): podman with runc (crun refuses these VMs' hybrid cgroups),
# catatonit (podman run --init), fuse-overlayfs and buildah (image builds), mmdebstrap (the test
# base image from Debian's archive). As root no uidmap or slirp4netns is needed (rootless only).
podman_pkgs=(podman runc catatonit fuse-overlayfs buildah mmdebstrap)

want=("${build_pkgs[@]}")
case "${1:-build}" in
  build) ;;
  test) want+=("${demo_pkgs[@]}" "${postgres_pkgs[@]}" "${slurm_pkgs[@]}" "${podman_pkgs[@]}") ;;
  postgres) want=("${postgres_pkgs[@]}") ;;
  slurm) want=("${slurm_pkgs[@]}") ;;
  podman) want=("${podman_pkgs[@]}") ;;
  demo) want+=("${demo_pkgs[@]}") ;;
  bench) want+=("${demo_pkgs[@]}" "${bench_pkgs[@]}") ;;
  fuzz) want+=("${fuzz_pkgs[@]}") ;;
  *) echo "usage: scripts/deps.sh [build|test|postgres|slurm|podman|demo|bench|fuzz]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

line="apt-get install -y --no-install-recommends ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  echo "overdrive: missing Debian packages. Run as root:" >&2
  echo "  apt-get update && $line" >&2
  exit 1
fi
echo "overdrive: installing ${#missing[@]} Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "overdrive: packages installed"
