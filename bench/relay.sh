#!/usr/bin/env bash
# The relay (issue 13): throughput from a backlog of 100,000 events (target
# >= 20,000 events/s) and commit-to-delivery latency p50/p99 while `up`
# applies 1,000 migrations. Go benchmarks in ledger/natsbus, each against an
# embedded nats-server (JetStream in a temp dir) and a database of its own.
#   bench/relay.sh                      COUNT=3 runs of each (~1-2 min per run)
#   EVENTS=20000 MIGRATIONS=200 bench/relay.sh   smaller sizes
#   LEDGER_TEST_DATABASE_URL=... bench/relay.sh   another server (default: the throwaway cluster
#                                       of pg.sh if it runs, else 127.0.0.1:5432)
# Results: $WORK/results/relay-<stamp>.txt (go test -bench output, then medians).
set -euo pipefail
source "$(dirname "$0")/common.sh"
if [ -z "${LEDGER_TEST_DATABASE_URL:-}" ]; then
  if pg_isready -q -h "${PGHOSTPORT%:*}" -p "${PGHOSTPORT#*:}" 2>/dev/null; then
    export LEDGER_TEST_DATABASE_URL="$(db_url postgres)"
  else
    export LEDGER_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
  fi
fi
[ -n "${EVENTS:-}" ] && export LEDGER_RELAY_BENCH_EVENTS=$EVENTS
[ -n "${MIGRATIONS:-}" ] && export LEDGER_RELAY_BENCH_MIGRATIONS=$MIGRATIONS
mkdir -p "$WORK/results"
out=$WORK/results/relay-$(date +%Y%m%d-%H%M%S).txt
echo "relay benchmarks against ${LEDGER_TEST_DATABASE_URL%%\?*}; load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out"
(cd "$ROOT" && go test -run '^$' -bench 'BenchmarkRelayBacklog|BenchmarkCommitToDelivery' \
  -benchtime 1x -count "${COUNT:-3}" -timeout 60m ./ledger/natsbus/) | tee -a "$out"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out"
# Medians over the runs of each metric.
awk '/^Benchmark/ { name = $1; sub(/-[0-9]+$/, "", name)
       for (i = 3; i < NF; i += 2) if ($(i+1) != "ns/op") v[name " " $(i+1)] = v[name " " $(i+1)] " " $i }
     END { for (k in v) { n = split(substr(v[k], 2), a, " "); asort(a); printf "median %-60s %s (of %d)\n", k, a[int((n + 1) / 2)], n } }' "$out" |
  sort | tee -a "$out"
