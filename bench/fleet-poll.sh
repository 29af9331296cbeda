#!/usr/bin/env bash
# One relay for 1,000 separate databases within --max-conns 20 (issue 22):
# BenchmarkFleetPolled in ledger/natsbus — the databases beyond what the
# budget can LISTEN to are polled. It creates pollbench_0000.. (CREATE
# DATABASE … TEMPLATE of one initialized database) on the cluster of
# PGHOSTPORT — a throwaway one (pg.sh), never the shared server — and
# drops them at the end unless KEEP=1 (the next run then reuses them).
#   PGDATA_DIR=/tmp/pgbench-me PGPORT_BENCH=55446 bench/pg.sh start
#   PGHOSTPORT=127.0.0.1:55446 KEEP=1 bench/fleet-poll.sh
#   DBS=200 INTERVAL=1s bench/fleet-poll.sh     a smaller fleet, another --poll-interval
# Results: $WORK/results/fleet-poll-<stamp>.txt
set -euo pipefail
source "$(dirname "$0")/common.sh"
pg_isready -q -h "${PGHOSTPORT%:*}" -p "${PGHOSTPORT#*:}" || { echo "no cluster on $PGHOSTPORT: start one with bench/pg.sh" >&2; exit 1; }
export LEDGER_TEST_DATABASE_URL="$(db_url postgres)"
export LEDGER_FLEET_POLL_BENCH_DBS=${DBS:-1000}
export LEDGER_FLEET_POLL_INTERVAL=${INTERVAL:-}
export LEDGER_FLEET_POLL_KEEP=${KEEP:-}
mkdir -p "$WORK/results"
out=$WORK/results/fleet-poll-$(date +%Y%m%d-%H%M%S).txt
echo "fleet-poll benchmark, $LEDGER_FLEET_POLL_BENCH_DBS databases, poll interval ${INTERVAL:-default}, against ${LEDGER_TEST_DATABASE_URL%%\?*}; load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out"
(cd "$ROOT" && go test -run '^$' -bench 'BenchmarkFleetPolled$' -benchtime 1x -count "${COUNT:-1}" -timeout 60m ./ledger/natsbus/) | tee -a "$out"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out"
