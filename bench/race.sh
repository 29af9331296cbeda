#!/usr/bin/env bash
# P concurrent `up` on the same database (default 8): do all succeed, does any fail or
# wait, does the history end up wrong? (target 5: 8 concurrent `ledger up` all exit 0,
# each migration recorded once.)
#   variants:  plain = CREATE TABLE;  idem = CREATE TABLE IF NOT EXISTS, which cannot fail
#              on a double apply, so a tool without a lock shows double-recorded history.
#   scenarios: fresh = empty database;  boot = the tool's status command ran once first,
#              so its bookkeeping table exists and the race is on the migrations themselves.
#   ./race.sh        (P=8 N=100 ROUNDS=2 VARIANTS="plain idem" SCENARIOS="fresh boot" TOOLS="ledger goose")
# Per round one line; the summary line per tool says PASS only if every process of every
# round exited 0, every table exists and no migration was recorded twice.
# Logs: $WORK/results/race-<stamp>/
set -euo pipefail
source "$(dirname "$0")/common.sh"
P=${P:-8}; N=${N:-100}; ROUNDS=${ROUNDS:-2}
TOOLS=${TOOLS:-ledger goose}
OUT=${OUT:-$WORK/results/race-$(date +%Y%m%d-%H%M%S)}; mkdir -p "$OUT"
case " $TOOLS " in *" ledger "*) build_ledger ;; esac
export DATABASE_URL MIGDIR N
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
for tool in $TOOLS; do
  if ! load_tool "$tool"; then echo "skip $tool: '$BIN' not on PATH"; continue; fi
  rounds=0; clean=0
  for variant in ${VARIANTS:-plain idem}; do
    v=""; [ "$variant" = idem ] && v=idem
    MIGDIR=$(migdir "$tool" "$N" "$v")
    [ -d "$MIGDIR" ] || TOOLS=$tool "$HERE/gen.sh" ${v:+-i} "$N" >/dev/null
    for scenario in ${SCENARIOS:-fresh boot}; do
      for r in $(seq "$ROUNDS"); do
        db=race_${tool}; DATABASE_URL=$(db_url "$db"); reset_db "$db"
        [ "$scenario" = boot ] && { sh -c "$STATUS_CMD" >/dev/null 2>&1 || true; }
        log=$OUT/$tool-$variant-$scenario-$r
        for p in $(seq "$P"); do (
          set +e; t0=$(now_ms); sh -c "$UP_CMD" >"$log-$p.log" 2>&1; rc=$?
          echo "$rc $(( $(now_ms) - t0 ))" >"$log-$p.rc" ) &
        done
        wait
        rcs=""; mss=""; failed=0
        for p in $(seq "$P"); do
          read -r rc ms <"$log-$p.rc"; rcs="$rcs$rc"; mss="$mss $ms"
          [ "$rc" = 0 ] || failed=$((failed + 1))
        done
        hist=$(psql "$DATABASE_URL" -XAtc "$HISTORY_SQL" 2>&1 || true)
        dups=$(printf '%s\n' "$hist" | grep . | sort | uniq -d | wc -l)
        if [ -n "${DUP_SQL:-}" ]; then   # the tool's own "applied more than once" query
          dups=$(psql "$DATABASE_URL" -XAtc "$DUP_SQL" 2>&1 | grep -c . || true)
        fi
        tables=$(count_tables "$db")
        printf '%-6s %-5s %-5s #%s  rc=%s  ms=%s  failed=%s/%s  tables=%s/%s  history_rows=%s dup_migrations=%s\n' \
          "$tool" "$variant" "$scenario" "$r" "$rcs" "${mss# }" "$failed" "$P" "$tables" "$N" \
          "$(printf '%s\n' "$hist" | grep -c . || true)" "$dups"
        rounds=$((rounds + 1))
        [ "$failed" = 0 ] && [ "$tables" = "$N" ] && [ "$dups" = 0 ] && clean=$((clean + 1))
        for p in $(seq "$P"); do
          grep -q '^0 ' "$log-$p.rc" || echo "    #$p failed: $(grep -v '^\s*$' "$log-$p.log" | tail -n 1 | cut -c1-160)"
        done
        if [ "$failed" != 0 ]; then   # does a plain re-run recover?
          if sh -c "$UP_CMD" >"$log-rerun.log" 2>&1; then echo "    re-run of up: ok, tables=$(count_tables "$db")/$N"
          else echo "    re-run of up FAILED: $(tail -n 1 "$log-rerun.log" | cut -c1-160)"; fi
        fi
      done
    done
  done
  echo "RESULT $tool: $clean/$rounds rounds clean ($P concurrent up, all exit 0, $N tables, no migration recorded twice): $([ "$clean" = "$rounds" ] && echo PASS || echo FAIL)"
done
echo "logs in $OUT"
