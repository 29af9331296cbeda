#!/usr/bin/env bash
# Drift and watch benchmarks (issue 14), as Go benchmarks on the throwaway
# cluster (pg.sh) and an embedded nats-server:
#   fingerprint + snapshot of 1,000 tables     target < 200 ms
#   commit-to-alert latency, p50 / p99 of 50   target p99 < 100 ms
#   a watcher catching up on 100,000 events    target < 2 s
#   bench/drift.sh            (OUT=file to keep the log)
set -euo pipefail
source "$(dirname "$0")/common.sh"
"$HERE/pg.sh" ensure
export LEDGER_TEST_DATABASE_URL="$(db_url postgres)"
cd "$ROOT"
{
  go test -run '^$' -bench 'Snapshot1000Tables' -benchtime 10x -count 1 ./ledger
  go test -run '^$' -bench 'CommitToAlert' -benchtime 50x -count 1 ./watch
  go test -run '^$' -bench 'CatchUp100k' -benchtime 3x -count 1 ./watch
} 2>&1 | tee "${OUT:-/dev/null}"
