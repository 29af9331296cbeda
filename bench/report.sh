#!/usr/bin/env bash
# `ledger report` of a ledger with 100,000 events (10 applied migrations + churn appended
# by bench/seed): wall time and peak RSS from /usr/bin/time -v over REPORT_RUNS runs
# (median wall, max RSS), and the page's size. Bounds (issue 23): <= 2 s and <= 5 MB.
# The figures of the library alone (no process start, a ledger spread over 90 days) are
# report.BenchmarkReport100k's: go test -run '^$' -bench Report100k ./report
#   ./report.sh      (EVENTS=100000 REPORT_RUNS=5 SEED_REUSE=0)
set -euo pipefail
source "$(dirname "$0")/common.sh"
EVENTS=${EVENTS:-100000}; REPORT_RUNS=${REPORT_RUNS:-5}
[ -x /usr/bin/time ] || { echo "needs GNU time: apt-get install -y time" >&2; exit 1; }
OUT=${OUT:-$WORK/results/report-$(date +%Y%m%d-%H%M%S)}; mkdir -p "$OUT"
build_ledger
seeded_db report_100k "$EVENTS" 10
url=$(db_url report_100k)
echo "events: $(psql "$url" -XAtc 'select count(*) from ledger.events'); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$REPORT_RUNS"); do
  /usr/bin/time -v ledger report --db "$url" -o "$OUT/report-$r.html" >"$OUT/report-$r.out" 2>"$OUT/report-$r.time" || {
    code=$?; [ "$code" = 5 ] || { echo "ledger report failed (run $r, exit $code):"; cat "$OUT/report-$r.out" "$OUT/report-$r.time"; exit 1; }
  }
  awk -v r="$r" -v size="$(stat -c %s "$OUT/report-$r.html")" '/Elapsed \(wall clock\)/ { w = $NF } /Maximum resident set size/ { m = $NF }
    /User time/ { u = $NF } /System time/ { s = $NF }
    END { n = split(w, p, ":"); sec = p[n] + (n > 1 ? p[n-1] * 60 : 0)
          printf "run %s: wall %.2f s  user %.2f s  sys %.2f s  peak RSS %.1f MB  page %.2f MB\n", r, sec, u, s, m / 1024, size / 1048576 }' "$OUT/report-$r.time" \
    | tee -a "$OUT/runs.txt"
done
grep -h "wrote" "$OUT/report-1.time" || true
awk -v ev="$EVENTS" '{ w[NR] = $4; if ($14 > m) m = $14; if ($17 > p) p = $17 } END { n = asort(w); med = w[int((n + 1) / 2)]
  printf "report of %s events: median wall %.2f s (bound <= 2: %s), page %.2f MB (bound <= 5: %s), peak RSS %.1f MB\n",
    ev, med, med <= 2 ? "met" : "NOT met", p, p <= 5 ? "met" : "NOT met", m }' "$OUT/runs.txt"
