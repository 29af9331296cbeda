#!/usr/bin/env bash
# The fleet (issue 22): one relay for 1,000 ledgers while each gets 5
# migrations (commit-to-stream p99 <= 250 ms within --max-conns 20), one
# watcher for all of them (alert p99 <= 500 ms after a burst settles,
# memory <= 200 MB) and the fleet's state from the bus (<= 2 s).
# BenchmarkFleet in watch: the 1,000 ledgers are 250 ledger schemas in each
# of 4 databases (the first initialized schema by schema, the other three
# CREATE DATABASE ... TEMPLATE copies of it), an embedded nats-server, all
# in the benchmark's process.
#   bench/fleet.sh                    once (~2-4 min, most of it creating the ledgers)
#   LEDGERS=200 bench/fleet.sh        a smaller fleet
# Results: $WORK/results/fleet-<stamp>.txt
set -euo pipefail
source "$(dirname "$0")/common.sh"
if [ -z "${LEDGER_TEST_DATABASE_URL:-}" ]; then
  if pg_isready -q -h "${PGHOSTPORT%:*}" -p "${PGHOSTPORT#*:}" 2>/dev/null; then
    export LEDGER_TEST_DATABASE_URL="$(db_url postgres)"
  else
    export LEDGER_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
  fi
fi
export LEDGER_FLEET_BENCH_LEDGERS=${LEDGERS:-1000}
mkdir -p "$WORK/results"
out=$WORK/results/fleet-$(date +%Y%m%d-%H%M%S).txt
echo "fleet benchmark, $LEDGER_FLEET_BENCH_LEDGERS ledgers, against ${LEDGER_TEST_DATABASE_URL%%\?*}; load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out"
(cd "$ROOT" && go test -run '^$' -bench 'BenchmarkFleet$' -benchtime 1x -count "${COUNT:-1}" -timeout 60m ./watch/) | tee -a "$out"
# The storm: 297 migrations in 30 runs of up, unknown to the guarded release.
(cd "$ROOT" && go test -count=1 -run 'TestStormOfUnknownMigrationsIsOneAlertPerRun' -v ./watch/ | grep -E '^(---|ok|FAIL)') | tee -a "$out"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out"
