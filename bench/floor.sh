#!/usr/bin/env bash
# The floor for a CLI status command: process start + connect + SELECT 1, timed side by
# side with `ledger check` (from the directory and from the release's manifest; the
# default build, and the lean build without NATS, -tags ledger_nonats) and `ledger
# status` on databases with 10 and 1000 applied migrations (FLOOR_NS; target 1:
# ledger check <= 1.2x the floor; target 1c: ledger check --manifest with 1000 <= 1.2x).
#   ./floor.sh        (RUNS=100 rounds by default; results in $WORK/results/floor-<stamp>.csv)
#   BEFORE=/tmp/ledger-old ./floor.sh   (also times an older binary's check and status)
set -euo pipefail
source "$(dirname "$0")/common.sh"
RUNS=${RUNS:-100}
FLOOR_NS=${FLOOR_NS:-10 1000}
export DATABASE_URL; DATABASE_URL=$(db_url postgres)
mkdir -p "$WORK/results"
build_ledger
csv=${CSV:-$WORK/results/floor-$(date +%Y%m%d-%H%M%S).csv}
PSQL=$PGBIN/psql   # the real binary; /usr/bin/psql is Debian's Perl wrapper
# check's head read (ledger/statements.go, head, schema ledger): run by the floor's own
# program (`floor -sql`), it is what any check that reads the head this way costs at
# least — the part of check's time that is the server's, not ledger's start or work.
HEAD_SQL='SELECT h.seq, h.hash, h.format, h.schema_version, h.digest, h.in_doubt, h.fingerprint, h.fingerprint_objects, h.fingerprint_seq, e.seq, e.hash, e.id, e.type, e.payload_version, e.payload, e.recorded_at, e.actor, e.host, e.app_version, e.prev_hash, e.state_format, e.state_digest, e.state_in_doubt, e.state_schema_version FROM "ledger".head h LEFT JOIN LATERAL (SELECT * FROM "ledger".events ORDER BY seq DESC LIMIT 2) e ON true ORDER BY e.seq DESC'
# Databases where `ledger check` answers "run" (exit 0): n migrations applied.
lcmds=()
for n in $FLOOR_NS; do
  set_dir=$(ledger_set "$n"); ldb=$(db_url "floor_ledger_$n")
  reset_db "floor_ledger_$n"
  ledger up --db "$ldb" --dir "$set_dir" >/dev/null
  ledger check --db "$ldb" --dir "$set_dir" >/dev/null   # must exit 0 (run)
  manifest=$WORK/manifests/release-$n.json; mkdir -p "$WORK/manifests"
  ledger manifest --dir "$set_dir" --app-version 1.0.0 -o "$manifest" >/dev/null
  ledger check --db "$ldb" --manifest "$manifest" >/dev/null   # must exit 0 (run)
  lcmds+=(-n "floor -sql: check's head read ($n applied)" "$WORK/bin/floor -db $ldb -sql '$HEAD_SQL'"
          -n "ledger check ($n applied)" "ledger check --db $ldb --dir $set_dir"
          -n "ledger check --manifest ($n applied)" "ledger check --db $ldb --manifest $manifest"
          -n "ledger-lean check ($n applied)" "ledger-lean check --db $ldb --dir $set_dir"
          -n "ledger-lean check --manifest ($n applied)" "ledger-lean check --db $ldb --manifest $manifest"
          -n "ledger status ($n applied)" "ledger status --db $ldb --dir $set_dir")
  # BEFORE=/path/to/an/older/ledger: the same check and status with it, in the same
  # rounds, for a before/after ratio that the machine's load cannot bend.
  if [ -n "${BEFORE:-}" ]; then
    lcmds+=(-n "before: ledger check ($n applied)" "$BEFORE check --db $ldb --dir $set_dir"
            -n "before: ledger status ($n applied)" "$BEFORE status --db $ldb --dir $set_dir")
  fi
done
before=()
if [ -n "${BEFORE:-}" ]; then before=(-n 'before: ledger version' "$BEFORE version"); fi
# interleave (bench/interleave): every round runs each command once, in a new random
# order, so that what the machine does meanwhile falls on all of them alike; hyperfine's
# back-to-back runs gave this ratio as 1.23 in one run and 1.64 in the next. No shell.
interleave -runs "$RUNS" -warmup 3 -csv "$csv" \
  -n 'psql --version: psql process start only' "$PSQL --version" \
  -n "psql -c 'select 1': start + connect + query" "$PSQL $DATABASE_URL -XAtqc 'select 1'" \
  -n 'floor -noop: Go+pgx binary start only' "$WORK/bin/floor -noop" \
  -n 'floor: Go start + pgx connect + SELECT 1' "$WORK/bin/floor" \
  -n 'ledger version: ledger binary start only' "ledger version" \
  -n 'ledger-lean version: lean binary start only' "ledger-lean version" \
  "${before[@]}" \
  "${lcmds[@]}" >/dev/null
echo "median wall ms, $RUNS interleaved runs each (user+sys ms):"
awk -F, 'NR > 1 { printf "  %7.2f  (%5.2f)  %s\n", $4 * 1000, ($7 + $8) * 1000, $1 }' "$csv"
awk -F, 'NR > 1 && $1 ~ /^floor: / { f = $4 } NR > 1 && $1 ~ /^((before: )?ledger(-lean)? check|floor -sql)/ { c[$1] = $4 }
  END { for (k in c) printf "%s / floor = %.2f (target <= 1.2: %s)\n", k, c[k] / f, c[k] / f <= 1.2 ? "met" : "NOT met" }' "$csv" | sort
"$WORK/bin/floor" -loop 200
