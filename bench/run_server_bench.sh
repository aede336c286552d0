#!/usr/bin/env bash
# `overdrive server` under load (issue 5): metric ingestion from 8 concurrent clients (REST batches
# of 1,000 points, and one point per request through MLflow's log-metric) with every point checked
# in the store afterwards, and the latency of the dashboard's heavy reads (a 1,000,000-point
# metric history downsampled to 1,000, the trials table and trials/points of a 10,000-trial sweep),
# on SQLite and on PostgreSQL, beside a small Python tracking server (http.server + sqlite3) taking
# the same ingest requests. The load client is bench/server_bench.cpp; the peer bench/server_peer.py.
# Builds the Release binary and the client in build/bench-server. Markdown tables on stdout,
# progress on stderr; every server it started is stopped at the end (trap), the temp folder and
# the PostgreSQL bench database removed, and PostgreSQL stopped again if this script started it.
# Environment:
#   BACKENDS ("sqlite,postgresql,python")  a subset to run
#   INGEST_POINTS (2000000), CLIENTS (8), BATCH (1000)   the batched ingest
#   SINGLE_POINTS (20000)                         the one-point-per-request ingest
#   QUERY_POINTS (1000000), SWEEP_TRIALS (10000), QUERIES (200), DETAIL_QUERIES (20)
#   SERVER_SECTIONS ("ingest,single,query")  a subset of the client's sections;  JOBS (2)
#   (names distinct from the other benches' POINTS, TRIALS, SECTIONS: `make bench` passes all through)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build/bench-server"
py=/usr/bin/python3  # Debian's Python for the peer
backends=",${BACKENDS:-sqlite,postgresql,python},"

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DOVERDRIVE_TESTS=OFF \
  -DOVERDRIVE_BENCH=ON >/dev/null
ninja -C "$build" -j"${JOBS:-2}" overdrive server_bench >/dev/null
od="$build/bin/overdrive"
client="$build/bench/server_bench"

work="$(mktemp -d "${TMPDIR:-/tmp}/overdrive-server-bench.XXXXXX")"
pg_admin=""      # URL of the cluster's postgres database, once we created the bench database
pg_started=0     # 1 when this script started the cluster (then it stops it)
bench_db=overdrive_bench_server
psql_bin="$(command -v psql || ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | head -n1 || true)"
driver=""
cleanup() {
  if [[ -n "$driver" ]]; then kill -TERM "$driver" 2>/dev/null || true; fi
  # server_bench stops its server itself and removes its pid file; these are the ones left if it
  # was killed, and the Python peer.
  for f in "$work"/*.pid; do
    [[ -f "$f" ]] || continue
    kill -TERM "$(cat "$f")" 2>/dev/null || true
  done
  sleep 0.5
  for f in "$work"/*.pid; do
    [[ -f "$f" ]] || continue
    kill -KILL "$(cat "$f")" 2>/dev/null || true
  done
  if [[ -n "$pg_admin" ]]; then
    "$psql_bin" -X -q "$pg_admin" -c "DROP DATABASE IF EXISTS $bench_db" >/dev/null 2>&1 || true
  fi
  if [[ "$pg_started" == 1 ]]; then "$root/scripts/postgres.sh" stop >&2 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

common=(--points "${INGEST_POINTS:-2000000}" --clients "${CLIENTS:-8}" --batch "${BATCH:-1000}"
  --single-points "${SINGLE_POINTS:-20000}" --query-points "${QUERY_POINTS:-1000000}"
  --trials "${SWEEP_TRIALS:-10000}" --queries "${QUERIES:-200}"
  --detail-queries "${DETAIL_QUERIES:-20}" --sections "${SERVER_SECTIONS:-ingest,single,query}"
  --ingest-rows "$work/ingest.md" --query-rows "$work/query.md")
: >"$work/ingest.md"
: >"$work/query.md"
status=0
start=$SECONDS

# Runs the client in the background + wait, so that a TERM to this script runs the trap at once.
run_client() {
  "$client" "$@" &
  driver=$!
  if ! wait "$driver"; then status=1; fi
  driver=""
}

if [[ "$backends" == *,sqlite,* ]]; then
  echo "server bench: sqlite" >&2
  run_client --overdrive "$od" --workspace "$work/sqlite" --backend sqlite \
    --pidfile "$work/sqlite.pid" "${common[@]}"
fi

if [[ "$backends" == *,postgresql,* ]]; then
  url="$("$root/scripts/postgres.sh" url)"
  if [[ -z "$psql_bin" ]]; then
    echo "server bench: no psql to create the bench database: scripts/deps.sh postgres" >&2
    status=1
  else
    base="${url%/*}"
    if ! "$psql_bin" -X -q "$base/postgres" -c 'SELECT 1' >/dev/null 2>&1; then
      pg_started=1
    fi
    if url="$("$root/scripts/postgres.sh" start)"; then
      base="${url%/*}"
      pg_admin="$base/postgres"
      # A fresh database each time: no schema or rows from an earlier run.
      "$psql_bin" -X -q "$pg_admin" -v ON_ERROR_STOP=1 -c "SET client_min_messages TO warning" \
        -c "DROP DATABASE IF EXISTS $bench_db" -c "CREATE DATABASE $bench_db" >/dev/null
      echo "server bench: postgresql ($base/$bench_db)" >&2
      run_client --overdrive "$od" --workspace "$work/postgresql" --db "$base/$bench_db" \
        --backend postgresql --pidfile "$work/postgresql.pid" "${common[@]}"
    else
      echo "server bench: PostgreSQL did not start (scripts/postgres.sh start); skipped" >&2
      pg_started=0
      status=1
    fi
  fi
fi

if [[ "$backends" == *,python,* ]]; then
  echo "server bench: python peer" >&2
  "$py" "$root/bench/server_peer.py" --db "$work/peer.db" --port 0 >"$work/peer.log" 2>&1 &
  echo $! >"$work/peer.pid"
  peer_url=""
  for _ in $(seq 100); do
    peer_url="$(sed -n 's/^listening on //p' "$work/peer.log")"
    [[ -n "$peer_url" ]] && break
    sleep 0.1
  done
  if [[ -z "$peer_url" ]]; then
    echo "server bench: the Python peer did not start:" >&2
    cat "$work/peer.log" >&2
    status=1
  else
    run_client --url "$peer_url" --server-pid "$(cat "$work/peer.pid")" \
      --backend "python http.server + sqlite3" "${common[@]}"
  fi
fi

echo ""
echo "Ingestion (points/s end to end: from the first request sent to the last reply):"
echo ""
echo "| server | mode | points | runs | clients | seconds | points/s | server CPU s | client CPU s | lost | duplicated or wrong | checked by |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
cat "$work/ingest.md"
if [[ -s "$work/query.md" ]]; then
  echo ""
  echo "Queries (one at a time, keep-alive, Accept-Encoding: gzip, deflate unless said):"
  echo ""
  echo "| query | backend | requests | p50 ms | p99 ms | max ms | reply bytes (JSON) |"
  echo "|---|---|---:|---:|---:|---:|---:|"
  cat "$work/query.md"
fi
echo "server bench: $((SECONDS - start)) s" >&2
exit "$status"
