#!/usr/bin/env bash
# Does a status/check command wait while another process is running `up`?
# (A startup check that blocks behind a long migration stalls every replica's start.)
# Per tool: one migration that runs `select pg_sleep($SLEEP)`; start `up`, wait 1 s, then
#  1. one shot: STATUS_CMD and CHECK_CMD started together, each timed (wall ms, rc, last line);
#  2. if both answered in under 1 s and the migration is still running: hyperfine -N medians
#     of BLOCK_RUNS runs of each, and of the floor (Go start + connect + SELECT 1) for
#     reference, still during the migration.
# Target 4: ledger check and status answer in <= 10 ms during a 5 s migration.
#   ./block.sh        (SLEEP=5 BLOCK_RUNS=10 TOOLS="ledger goose migrate tern")
set -euo pipefail
source "$(dirname "$0")/common.sh"
SLEEP=${SLEEP:-5}; BLOCK_RUNS=${BLOCK_RUNS:-10}
TOOLS=${TOOLS:-ledger goose migrate tern}
OUT=${OUT:-$WORK/results/block-$(date +%Y%m%d-%H%M%S)}; mkdir -p "$OUT"
build_ledger   # also builds $WORK/bin/floor
export DATABASE_URL MIGDIR N=1 TARGET=0
for tool in $TOOLS; do
  if ! load_tool "$tool"; then echo "skip $tool: '$BIN' not on PATH"; continue; fi
  MIGDIR=$(migdir "$tool" 1 sleep); rm -rf "$MIGDIR"; mkdir -p "$MIGDIR"
  gen_one 1 "$MIGDIR" "select pg_sleep($SLEEP);" "select 1;"
  db=block_$tool; DATABASE_URL=$(db_url "$db"); reset_db "$db"
  sh -c "$STATUS_CMD" >/dev/null 2>&1 || true        # let the tool create its bookkeeping table
  t_up=$(date +%s%N)
  sh -c "$UP_CMD" >"$OUT/$tool-up.log" 2>&1 &
  up_pid=$!
  sleep 1
  for kind in STATUS CHECK; do     # both at once, so each runs while the migration does
    cmd=${kind}_CMD; [ -n "${!cmd}" ] || continue
    ( t0=$(date +%s%N); out=$(sh -c "${!cmd}" 2>&1) && rc=0 || rc=$?
      ms=$(( ($(date +%s%N) - t0) / 1000000 ))
      echo "$ms" >"$OUT/$tool-$kind.ms"
      printf '%-8s %-6s during a %ss up: rc=%s %6s ms  -> %s\n' "$tool" "$kind" "$SLEEP" "$rc" \
        "$ms" "$(printf '%s\n' "$out" | grep -v '^\s*$' | tail -n 1 | cut -c1-90)" ) &
  done
  for j in $(jobs -p); do [ "$j" = "$up_pid" ] || wait "$j"; done
  slow=0; for f in "$OUT/$tool"-*.ms; do [ "$(cat "$f")" -lt 1000 ] || slow=1; done
  if [ "$slow" = 0 ] && kill -0 "$up_pid" 2>/dev/null; then
    for kind in FLOOR STATUS CHECK; do
      if [ "$kind" = FLOOR ]; then line="$WORK/bin/floor"   # start + connect + SELECT 1, same moment
      else
        cmd=${kind}_CMD; [ -n "${!cmd}" ] || continue
        eval "set -- ${!cmd}"; line=$(printf '%q ' "$@")    # expanded: run with -N, no shell
      fi
      hyperfine -N --runs "$BLOCK_RUNS" --warmup 1 --style basic -i --export-csv "$OUT/$tool-$kind.csv" \
        -n "$tool-$kind" "$line" >"$OUT/$tool-$kind.hyperfine" 2>&1 || true
    done
    still=$(kill -0 "$up_pid" 2>/dev/null && echo yes || echo "NO (migration ended: medians partly outside it)")
    for kind in FLOOR STATUS CHECK; do
      [ -f "$OUT/$tool-$kind.csv" ] || continue
      awk -F, -v t="$tool" -v k="$kind" -v n="$BLOCK_RUNS" -v s="$still" \
        'NR == 2 { printf "%-8s %-6s median of %s during the up: %6.1f ms (migration still running after: %s)\n", t, k, n, $4 * 1000, s }' \
        "$OUT/$tool-$kind.csv"
    done
  fi
  wait "$up_pid" && up_rc=0 || up_rc=$?
  printf '%-8s up (the %ss migration): rc=%s %s ms\n' "$tool" "$SLEEP" "$up_rc" $(( ($(date +%s%N) - t_up) / 1000000 ))
done
echo "logs in $OUT"
