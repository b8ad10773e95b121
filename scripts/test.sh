#!/usr/bin/env bash
# Runs the test suite on PostgreSQL. With DATABASE_URL set, against that server; otherwise in a
# throwaway cluster started here (initdb/pg_ctl in a temp folder, a free loopback port), stopped
# on exit whatever happens. Without PostgreSQL binaries it falls back to SQLite and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

find_pg_bin() {
  local dir
  for dir in "$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/x)")" /usr/lib/postgresql/*/bin /usr/local/pgsql/bin; do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
  done
  return 1
}

if [ -n "${DATABASE_URL:-}" ]; then
  echo "==> Tests on DATABASE_URL"
  exec $PY -m pytest "$@"
fi

if ! PG_BIN=$(find_pg_bin); then
  echo "==> No PostgreSQL binaries (initdb, pg_ctl) found: running on SQLite."
  echo "==> Tests marked 'postgres' (concurrency, locking) are SKIPPED; install PostgreSQL to run them."
  exec $PY -m pytest -rs "$@"
fi

TMP=$(mktemp -d /tmp/mmp-pg.XXXXXX)
PGDATA="$TMP/data"
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
AS=()
if [ "$(id -u)" = 0 ]; then
  # initdb and pg_ctl refuse to run as root: run them as the postgres user on a folder it owns.
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown postgres "$TMP"
  AS=(runuser -u postgres --)
fi

cleanup() {
  "${AS[@]}" "$PG_BIN/pg_ctl" -D "$PGDATA" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

echo "==> Starting a throwaway PostgreSQL ($("$PG_BIN/postgres" --version | awk '{print $3}')) on 127.0.0.1:$PORT"
"${AS[@]}" "$PG_BIN/initdb" -D "$PGDATA" -A trust -U postgres --no-sync >/dev/null
"${AS[@]}" "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$TMP/postgres.log" -w \
  -o "-p $PORT -k $TMP -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  start >/dev/null

export DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/mediamanager"
# The whole suite (no arguments) runs on several processes, one test database each (pytest-xdist):
# TEST_WORKERS of them, by default two per CPU up to 4 (the suite mostly waits on PostgreSQL, HTTP,
# browsers and worker processes: 4 on 2 cores ran it in about half the time of 2). A chosen file or
# test runs in one process.
if [ $# -eq 0 ]; then
  WORKERS=${TEST_WORKERS:-$(( 2 * $(nproc) < 4 ? 2 * $(nproc) : 4 ))}
  [ "$WORKERS" -gt 1 ] && set -- -n "$WORKERS"
  echo "==> $WORKERS test processes"
fi
set +e
$PY -m pytest "$@"
status=$?
set -e
exit $status
