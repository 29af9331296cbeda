#!/usr/bin/env bash
# `ledger check` (a process, like a container's startup gate) on two databases with the same
# 10 applied migrations, one ledger holding ~100 events and one ~100,000 (churn: a dummy
# migration applied and reverted, appended by bench/seed). The check must not grow with
# the ledger: target 1b, check(100,000) <= 1.3x check(100).
#   ./check-scale.sh      (RUNS=30 SMALL=100 BIG=100000 SEED_REUSE=0)
set -euo pipefail
source "$(dirname "$0")/common.sh"
RUNS=${RUNS:-30}; SMALL=${SMALL:-100}; BIG=${BIG:-100000}
mkdir -p "$WORK/results"
build_ledger
csv=${CSV:-$WORK/results/check-scale-$(date +%Y%m%d-%H%M%S).csv}
dir=$(ledger_set 10)
seeded_db scale_small "$SMALL" 10
seeded_db scale_big "$BIG" 10
for db in scale_small scale_big; do   # both must answer "run" (exit 0)
  ledger check --db "$(db_url $db)" --dir "$dir" >/dev/null || { echo "ledger check on $db did not exit 0" >&2; exit 1; }
done
hyperfine -N --runs "$RUNS" --warmup 3 --style basic --export-csv "$csv" \
  -n "ledger check: $SMALL events" "ledger check --db $(db_url scale_small) --dir $dir" \
  -n "ledger check: $BIG events" "ledger check --db $(db_url scale_big) --dir $dir" >/dev/null
echo "median wall ms, $RUNS runs each (user+sys ms):"
awk -F, 'NR > 1 { printf "  %7.2f  (%5.2f)  %s\n", $4 * 1000, ($7 + $8) * 1000, $1 }' "$csv"
awk -F, 'NR == 2 { a = $4 } NR == 3 { b = $4 }
  END { printf "check(big) / check(small) = %.2f (target <= 1.3: %s)\n", b / a, b / a <= 1.3 ? "met" : "NOT met" }' "$csv"
