#!/usr/bin/env bash
# `ledger verify` of a ledger with 1,000,000 events (10 applied migrations + churn appended
# by bench/seed, ~2 min to seed): wall time and peak RSS from /usr/bin/time -v, VERIFY_RUNS
# runs (median wall, max RSS, median CPU). Target 6b: <= 5 s and <= 200 MB; issue 26 (target 7):
# its CPU time (user+sys) below its wall time.
#   ./verify-1m.sh      (EVENTS=1000000 VERIFY_RUNS=3 SEED_REUSE=0)
set -euo pipefail
source "$(dirname "$0")/common.sh"
EVENTS=${EVENTS:-1000000}; VERIFY_RUNS=${VERIFY_RUNS:-3}
[ -x /usr/bin/time ] || { echo "needs GNU time: apt-get install -y time" >&2; exit 1; }
OUT=${OUT:-$WORK/results/verify-$(date +%Y%m%d-%H%M%S)}; mkdir -p "$OUT"
build_ledger
dir=$(ledger_set 10)
seeded_db verify_1m "$EVENTS" 10
url=$(db_url verify_1m)
echo "events: $(psql "$url" -XAtc 'select count(*) from ledger.events'), ledger.events size: $(psql "$url" -XAtc "select pg_size_pretty(pg_total_relation_size('ledger.events'))")"
for r in $(seq "$VERIFY_RUNS"); do
  /usr/bin/time -v ledger verify --db "$url" --dir "$dir" >"$OUT/verify-$r.out" 2>"$OUT/verify-$r.time" \
    || { echo "ledger verify failed (run $r):"; cat "$OUT/verify-$r.out" "$OUT/verify-$r.time"; exit 1; }
  awk -v r="$r" '/Elapsed \(wall clock\)/ { w = $NF } /Maximum resident set size/ { m = $NF }
    /User time/ { u = $NF } /System time/ { s = $NF }
    END { n = split(w, p, ":"); sec = p[n] + (n > 1 ? p[n-1] * 60 : 0)
          printf "run %s: wall %.2f s  user %.2f s  sys %.2f s  peak RSS %.1f MB\n", r, sec, u, s, m / 1024 }' "$OUT/verify-$r.time" \
    | tee -a "$OUT/runs.txt"
done
head -n 1 "$OUT/verify-1.out"
awk -v ev="$EVENTS" '{ w[NR] = $4; c[NR] = $7 + $10; if ($14 > m) m = $14 } END { n = asort(w); med = w[int((n + 1) / 2)]
  asort(c); cpu = c[int((n + 1) / 2)]
  printf "verify of %s events: median wall %.2f s (target <= 5: %s), peak RSS %.1f MB (target <= 200: %s), median CPU (user+sys) %.2f s (target: below the wall: %s)\n",
    ev, med, med <= 5 ? "met" : "NOT met", m, m <= 200 ? "met" : "NOT met", cpu, cpu < med ? "met" : "NOT met" }' "$OUT/runs.txt"
