#!/usr/bin/env bash
# A throw-away PostgreSQL 15 cluster for the tests of the PostgreSQL metadata store.
#   scripts/postgres.sh start   install postgresql if missing (scripts/deps.sh postgres), create
#                               the cluster under build/pgdata on first use, start it, create the
#                               database overdrive_test; prints its URL (idempotent)
#   scripts/postgres.sh stop    stop it (the data stays; `rm -rf build/pgdata` forgets it)
#   scripts/postgres.sh url     print the URL
# It listens on 127.0.0.1:${OVERDRIVE_PG_PORT:-55432} only, with trust authentication and fsync
# off: for tests, never for data you want to keep. As root the server runs as the `postgres`
# OS user (PostgreSQL refuses to run as root); otherwise as the calling user.
set -euo pipefail
cd "$(dirname "$0")/.."

port=${OVERDRIVE_PG_PORT:-55432}
db=overdrive_test
root=$PWD/build/pgdata
# The server runs as `postgres` when we are root; if that user cannot reach the checkout (a home
# folder closed to others), the cluster lives under /tmp instead, at a path fixed per checkout.
if [[ $(id -u) -eq 0 ]] && id postgres >/dev/null 2>&1 &&
    ! runuser -u postgres -- test -x "$PWD"; then
  root=/tmp/overdrive-pgdata-$(printf '%s' "$PWD" | md5sum | cut -c1-12)
fi
data=$root/data
# Another checkout's test cluster may hold the default port: a fresh start then takes the next
# free one, remembered in $root/port so `url` and later starts agree.
if [[ -z ${OVERDRIVE_PG_PORT:-} && -f $root/port ]]; then port=$(cat "$root/port"); fi
url="postgresql://postgres@127.0.0.1:${port}/${db}"

bindir() {
  local d
  for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    [[ -x $d/pg_ctl ]] && { echo "$d"; return; }
  done
  return 1
}

# Runs a server binary as the cluster's owner.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start() {
  if ! bin=$(bindir); then
    scripts/deps.sh postgres >&2  # stdout is the URL only
    if ! bin=$(bindir); then
      echo "postgres.sh: no PostgreSQL server binaries in /usr/lib/postgresql/*/bin" >&2
      exit 1
    fi
  fi
  mkdir -p "$root"
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$root"
    chmod 700 "$root"
  fi
  # Concurrent starts (two test runs) take turns.
  exec 9>"$root/start.lock"
  flock 9
  if [[ ! -f $data/PG_VERSION ]]; then
    rm -rf "$data"
    as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
      --no-sync >"$root/initdb.log" 2>&1 || { cat "$root/initdb.log" >&2; exit 1; }
  fi
  if ! as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    if [[ -z ${OVERDRIVE_PG_PORT:-} ]]; then
      local p
      for p in $(seq "$port" $((port + 20))); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
      done
      echo "$port" >"$root/port"
      url="postgresql://postgres@127.0.0.1:${port}/${db}"
    fi
    local opts="-c listen_addresses=127.0.0.1 -p $port -k $root"
    opts+=" -c fsync=off -c full_page_writes=off -c max_connections=200"
    # 9>&-: the server must not inherit (and hold) the lock.
    if ! as_owner "$bin/pg_ctl" -D "$data" -l "$root/server.log" -w -t 60 -o "$opts" \
        start >/dev/null 9>&-; then
      echo "postgres.sh: the server did not start; the end of $root/server.log:" >&2
      tail -n 20 "$root/server.log" >&2
      exit 1
    fi
  fi
  local psql=("$bin/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres)
  if [[ -z $("${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'") ]]; then
    # Two concurrent starts may both get here; the loser's "already exists" is harmless.
    "${psql[@]}" -c "CREATE DATABASE $db" >/dev/null 2>&1 ||
      [[ -n $("${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'") ]]
  fi
  echo "$url"
}

stop() {
  local bin
  bin=$(bindir) || return 0
  [[ -f $data/PG_VERSION ]] || return 0
  if as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) echo "$url" ;;
  *) echo "usage: scripts/postgres.sh start|stop|url" >&2; exit 2 ;;
esac
