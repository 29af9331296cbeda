#!/usr/bin/env bash
# Does a status/check command wait while another process is running `up`?
# (A startup check that blocks behind a long migration stalls every replica's start.)
# Per tool: one migration that runs `select pg_sleep($SLEEP)`; start `up`, wait 1 s, then
#  1. one shot: STATUS_CMD and CHECK_CMD started together, each timed (wall ms, rc, last line);
#  2. if both answered in under 1 s and the migration is still running: medians of
#     BLOCK_RUNS interleaved rounds (bench/interleave) of each and of the floor (Go start +
#     connect + SELECT 1) for reference, still during the migration.
# Target (issue 26, target 6): ledger check and status answer in <= 10 ms during a 5 s migration.
#   ./block.sh        (SLEEP=5 BLOCK_RUNS=10 TOOLS="ledger goose migrate tern")
set -euo pipefail
source "$(dirname "$0")/common.sh"
SLEEP=${SLEEP:-5}; BLOCK_RUNS=${BLOCK_RUNS:-10}
TOOLS=${TOOLS:-ledger goose migrate tern}
OUT=${OUT:-$WORK/results/block-$(date +%Y%m%d-%H%M%S)}; mkdir -p "$OUT"
build_ledger   # also builds $WORK/bin/floor and $WORK/bin/interleave
# words ARGS...: the arguments as one interleave command line ('quoted' if they hold spaces).
words() { local w out=(); for w in "$@"; do case $w in *" "*) out+=("'$w'") ;; *) out+=("$w") ;; esac; done; echo "${out[*]}"; }
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
    # One interleaved run (bench/interleave): each round runs the floor, status and
    # check once, in a new random order, so whatever else the machine does falls on all
    # three alike — three hyperfine runs one after the other gave each its own second.
    args=(-n "$tool-FLOOR" "$WORK/bin/floor")   # start + connect + SELECT 1, same moment
    for kind in STATUS CHECK; do
      cmd=${kind}_CMD; [ -n "${!cmd}" ] || continue
      eval "set -- ${!cmd}"                       # expanded: run without a shell
      args+=(-n "$tool-$kind" "$(words "$@")")
    done
    # Any exit code is timed, as hyperfine -i did (check's 3 is "pending").
    "$WORK/bin/interleave" -runs "$BLOCK_RUNS" -warmup 1 -ok 1 -ok 2 -ok 3 -ok 4 -ok 5 -csv "$OUT/$tool.csv" \
      "${args[@]}" >"$OUT/$tool.interleave" 2>&1 || true
    still=$(kill -0 "$up_pid" 2>/dev/null && echo yes || echo "NO (migration ended: medians partly outside it)")
    for kind in FLOOR STATUS CHECK; do
      [ -f "$OUT/$tool.csv" ] || continue
      awk -F, -v t="$tool" -v k="$kind" -v n="$BLOCK_RUNS" -v s="$still" \
        '$1 == t "-" k { printf "%-8s %-6s median of %s during the up: %6.1f ms (migration still running after: %s)\n", t, k, n, $4 * 1000, s }' \
        "$OUT/$tool.csv"
    done
  fi
  wait "$up_pid" && up_rc=0 || up_rc=$?
  printf '%-8s up (the %ss migration): rc=%s %s ms\n' "$tool" "$SLEEP" "$up_rc" $(( ($(date +%s%N) - t_up) / 1000000 ))
done
echo "logs in $OUT"
