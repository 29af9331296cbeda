#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for the benchmarks (never the system one on 5432).
#   ./pg.sh start | stop | status | ensure   (ensure: start unless already running)
# Env: PGDATA_DIR (/tmp/pgbench-data), PGPORT_BENCH (55432), PGRUNNER (pgrunner: the
# non-root user initdb/postgres run as when this script is run by root).
set -euo pipefail
DATA=${PGDATA_DIR:-/tmp/pgbench-data}
PORT=${PGPORT_BENCH:-55432}
RUNNER=${PGRUNNER:-pgrunner}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

as_runner() {  # postgres refuses to run as root
  if [ "$(id -u)" = 0 ]; then
    id "$RUNNER" >/dev/null 2>&1 || useradd -m "$RUNNER"
    runuser -u "$RUNNER" -- "$@"
  else
    "$@"
  fi
}

case "${1:-}" in
start)
  if [ ! -f "$DATA/PG_VERSION" ]; then
    as_runner "$PGBIN/initdb" -D "$DATA" -U postgres --auth=trust >/dev/null
  fi
  as_runner "$PGBIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
    -o "-p $PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp" start
  echo "DSN: postgres://postgres@127.0.0.1:$PORT/postgres?sslmode=disable"
  ;;
stop)   as_runner "$PGBIN/pg_ctl" -D "$DATA" -m fast stop ;;
status) as_runner "$PGBIN/pg_ctl" -D "$DATA" status ;;
ensure)
  if [ -f "$DATA/PG_VERSION" ] && as_runner "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    echo "cluster in $DATA already running on 127.0.0.1:$PORT"
  else
    "$0" start
  fi
  ;;
*) echo "usage: $0 start|stop|status|ensure" >&2; exit 2 ;;
esac
