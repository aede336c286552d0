#!/usr/bin/env bash
# Storage emulators for the data tests and benches, from npm (tools/storage-emulators):
# Azurite, Azure Blob Storage's own emulator (it checks Shared Key and SAS signatures), and
# s3rver, an S3 emulator.
#   scripts/storage.sh start   npm ci when needed, start both (idempotent) and print
#                              `export OVERDRIVE_TEST_AZURITE=... OVERDRIVE_TEST_S3=...`
#   scripts/storage.sh stop    stop both (their data stays under build/storage-emulators)
#   scripts/storage.sh env     print the exports of running emulators (exit 1 when not running)
#   scripts/storage.sh container NAME   make a blob container in Azurite (idempotent)
#   scripts/storage.sh bucket NAME      make a bucket in s3rver (idempotent)
# Azurite's account is devstoreaccount1 with its published well-known key; s3rver takes the
# key pair S3RVER / S3RVER. Both listen on 127.0.0.1 only, on the first free ports from 10000
# (blob) and 4568 (S3), remembered so `env` and later starts agree.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=$PWD/tools/storage-emulators
root=$PWD/build/storage-emulators

need_node() {
  if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "storage.sh: node and npm are needed for the storage emulators (apt-get install nodejs npm)" >&2
    exit 1
  fi
}

install_deps() {
  local stamp=$tools/node_modules/.package-lock.json
  if [[ ! -f $stamp || $tools/package-lock.json -nt $stamp || $tools/package.json -nt $stamp ]]; then
    echo "storage.sh: npm ci (Azurite and s3rver)" >&2
    (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# alive NAME: the emulator NAME runs (its pid file names a live process).
alive() {
  local pid
  [[ -f $root/$1.pid ]] || return 1
  pid=$(cat "$root/$1.pid")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

# launch NAME DEFAULT_PORT COMMAND...: starts it on a free port (PORT in the command) unless up.
launch() {
  local name=$1 port=$2
  shift 2
  if alive "$name"; then return; fi
  while ! port_free "$port"; do port=$((port + 1)); done
  mkdir -p "$root/$name"
  local args=("${@//PORT/$port}")
  nohup "${args[@]}" >"$root/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$root/$name.pid"
  echo "$port" >"$root/$name.port"
  for _ in $(seq 1 100); do
    if ! port_free "$port"; then return; fi
    if ! kill -0 "$(cat "$root/$name.pid")" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "storage.sh: $name did not start; its log:" >&2
  tail -20 "$root/$name.log" >&2
  exit 1
}

print_env() {
  alive azurite && alive s3rver || return 1
  echo "export OVERDRIVE_TEST_AZURITE=http://127.0.0.1:$(cat "$root/azurite.port")/devstoreaccount1"
  echo "export OVERDRIVE_TEST_S3=http://127.0.0.1:$(cat "$root/s3rver.port")"
}

case "${1:-start}" in
  start)
    need_node
    install_deps
    mkdir -p "$root"
    exec 9>"$root/start.lock"
    flock 9
    launch azurite 10000 node "$tools/node_modules/azurite/dist/src/blob/main.js" \
      --location "$root/azurite" --blobHost 127.0.0.1 --blobPort PORT --loose \
      --skipApiVersionCheck --disableTelemetry
    launch s3rver 4568 node "$tools/node_modules/s3rver/bin/s3rver.js" -d "$root/s3rver" \
      -a 127.0.0.1 -p PORT --no-vhost-buckets --silent
    print_env
    ;;
  stop)
    for n in azurite s3rver; do
      if alive "$n"; then kill "$(cat "$root/$n.pid")" 2>/dev/null || true; fi
      rm -f "$root/$n.pid"
    done
    ;;
  env) print_env ;;
  container | bucket)
    [[ -n ${2:-} ]] || { echo "usage: scripts/storage.sh $1 NAME" >&2; exit 2; }
    alive azurite && alive s3rver || { echo "storage.sh: start the emulators first (scripts/storage.sh start)" >&2; exit 1; }
    # The emulators' own administrator credentials (Azurite's published key, s3rver's pair).
    if [[ $1 == container ]]; then
      env RCLONE_CONFIG=/dev/null RCLONE_CONFIG_E_TYPE=azureblob RCLONE_CONFIG_E_USE_EMULATOR=true \
        RCLONE_CONFIG_E_ENDPOINT="http://127.0.0.1:$(cat "$root/azurite.port")/devstoreaccount1" \
        rclone -q mkdir "e:$2"
    else
      env -u AWS_CA_BUNDLE RCLONE_CONFIG=/dev/null RCLONE_CONFIG_S_TYPE=s3 RCLONE_CONFIG_S_PROVIDER=Other \
        RCLONE_CONFIG_S_ENDPOINT="http://127.0.0.1:$(cat "$root/s3rver.port")" \
        RCLONE_CONFIG_S_FORCE_PATH_STYLE=true RCLONE_CONFIG_S_ACCESS_KEY_ID=S3RVER \
        RCLONE_CONFIG_S_SECRET_ACCESS_KEY=S3RVER rclone -q mkdir "s:$2"
    fi
    echo "storage.sh: $1 $2 ready"
    ;;
  *) echo "usage: scripts/storage.sh [start|stop|env|container NAME|bucket NAME]" >&2; exit 2 ;;
esac
