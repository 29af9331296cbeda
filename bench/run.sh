#!/usr/bin/env bash
# Time each tool on N trivial migrations: up (all N), status/check (fully migrated DB), down 10.
#   ./run.sh                                  goose migrate tern ledger, N = 10 100 1000
#   TOOLS="goose ledger" NS="100" REPS=5 STATUS_RUNS=30 ./run.sh
# Each up/down run starts from a freshly created database (hyperfine --prepare).
# Results: $WORK/results/<stamp>/results.{tsv,md} plus hyperfine CSVs and log.
set -euo pipefail
source "$(dirname "$0")/common.sh"
REPS=${REPS:-3}                 # runs of up and down-10 (each on a fresh DB)
STATUS_RUNS=${STATUS_RUNS:-15}  # runs of status/check (median reported), after 2 warmups
OUT=${OUT:-$WORK/results/run-$(date +%Y%m%d-%H%M%S)}; mkdir -p "$OUT"
case " ${TOOLS:-$TOOLS_ALL} " in *" ledger "*) build_ledger ;; esac
LOG=$OUT/hyperfine.log

# bench LABEL RUNS WARMUP PREPARE CMD -> prints the median wall time in seconds
bench() {
  local args=(--runs "$2" --warmup "$3" --style basic --export-csv "$OUT/$1.csv" --command-name "$1")
  [ -n "$4" ] && args+=(--prepare "$4")
  echo "### $1" >>"$LOG"
  hyperfine "${args[@]}" "$5" >>"$LOG" 2>&1 || { echo "FAILED: $1 (see $LOG)" >&2; echo NaN; return; }
  awk -F, 'NR == 2 { print $4 }' "$OUT/$1.csv"
}
ms() { awk -v s="$1" -v d="${2:-1}" 'BEGIN { if (s == "NaN" || s == "") print "-"; else printf "%.1f", s * 1000 / d }'; }

for tool in ${TOOLS:-$TOOLS_ALL}; do tool_version "$tool" || true; done >"$OUT/versions.txt"  # what was measured
printf 'tool\tN\tup_s\tper_migration_ms\tstatus_ms\tcheck_ms\tdown10_s\tverified\n' >"$OUT/results.tsv"
for tool in ${TOOLS:-$TOOLS_ALL}; do
  if ! load_tool "$tool"; then echo "skip $tool: '$BIN' not on PATH"; continue; fi
  for n in ${NS:-$NS_ALL}; do
    [ -d "$(migdir "$tool" "$n")" ] || TOOLS=$tool "$HERE/gen.sh" "$n" >/dev/null
    db=bench_${tool}_$n
    export DATABASE_URL MIGDIR N TARGET
    DATABASE_URL=$(db_url "$db") MIGDIR=$(migdir "$tool" "$n") N=$n TARGET=$((n > 10 ? n - 10 : 0))
    echo "== $tool N=$n"
    reset=$(reset_db_cmd "$db")
    up=$(bench "$tool-$n-up" "$REPS" 0 "$reset" "$UP_CMD")
    ok="up:$(count_tables "$db")/$n"
    status=$(bench "$tool-$n-status" "$STATUS_RUNS" 2 "" "$STATUS_CMD")
    check=NaN; [ -n "$CHECK_CMD" ] && check=$(bench "$tool-$n-check" "$STATUS_RUNS" 2 "" "$CHECK_CMD")
    down=NaN
    if [ -n "$DOWN10_CMD" ]; then
      down=$(bench "$tool-$n-down10" "$REPS" 0 "$reset && $UP_CMD >/dev/null 2>&1" "$DOWN10_CMD")
      ok="$ok down:$(count_tables "$db")/$TARGET"
    fi
    printf '%s\t%s\t%.3f\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$n" "$up" "$(ms "$up" "$n")" \
      "$(ms "$status")" "$(ms "$check")" "$([ "$down" = NaN ] && echo - || printf %.3f "$down")" "$ok" \
      | tee -a "$OUT/results.tsv"
  done
done
# Markdown copy of the table.
awk -F'\t' '{ line = "|"; for (i = 1; i <= NF; i++) line = line " " $i " |"; print line
             if (NR == 1) { sep = "|"; for (i = 1; i <= NF; i++) sep = sep " --- |"; print sep } }' \
  "$OUT/results.tsv" >"$OUT/results.md"
echo; cat "$OUT/results.md"; echo; echo "results in $OUT"
