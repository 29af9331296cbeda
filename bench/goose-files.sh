#!/usr/bin/env bash
# goose-format files applied by goose and by ledger (issue 26, target 8): `up`
# of a whole directory of goose files on a fresh database, each tool on its
# own, timed side by side with bench/interleave (each round runs both once, in
# random order; each run is prepared, untimed, by creating its database
# anew: renamed away, not dropped, until the end — bench/fresh-db.sh says
# why). Target: ledger <= 1.0x goose.
#
# The files: GOOSE_DIR (e.g. Hatchet's cmd/hatchet-migrate/migrate/migrations,
# its 150 SQL files before the first Go one), or, by default, FILES (150)
# generated in Hatchet's shape: a table, an index and a foreign key per file,
# every second file a plpgsql function between -- +goose StatementBegin and
# StatementEnd, every ninth file -- +goose NO TRANSACTION with CONCURRENTLY
# index builds (Hatchet's 150: 71 with StatementBegin, 17 NO TRANSACTION
# holding 1-34 statements).
#   bench/goose-files.sh          (RUNS=11 rounds; FILES=150; GOOSE_DIR=…)
# LEDGER_BEFORE=<a ledger binary> times it too, in the same rounds (before/after).
# Results: $WORK/results/goose-files-<stamp>/{goose-files.csv,summary.txt}.
set -euo pipefail
source "$(dirname "$0")/common.sh"
RUNS=${RUNS:-11}
FILES=${FILES:-150}
OUT=${OUT:-$WORK/results/goose-files-$(date +%Y%m%d-%H%M%S)}; mkdir -p "$OUT"
build_ledger
load_tool goose || { echo "goose is not on PATH" >&2; exit 1; }

# gen DIR: FILES goose files in Hatchet's shape.
gen() {
  local d=$1 i f
  rm -rf "$d"; mkdir -p "$d"
  for i in $(seq 1 "$FILES"); do
    f=$(printf '%s/%05d_v0_%d.sql' "$d" "$i" "$i")
    if ((i % 9 == 0)); then
      # Index builds on the tables of the files before it, one statement each.
      {
        printf -- '-- +goose Up\n-- +goose NO TRANSACTION\n\n'
        for j in $(seq $((i - 8)) $((i - 1))); do
          printf -- '-- Create index "h_%05d_created_idx" to table: "h_%05d"\n' "$j" "$j"
          printf 'CREATE INDEX CONCURRENTLY IF NOT EXISTS "h_%05d_created_idx" ON "h_%05d" ("createdAt");\n' "$j" "$j"
        done
        printf -- '\n-- +goose Down\n-- +goose NO TRANSACTION\n'
        for j in $(seq $((i - 8)) $((i - 1))); do
          printf 'DROP INDEX CONCURRENTLY IF EXISTS "h_%05d_created_idx";\n' "$j"
        done
      } >"$f"
      continue
    fi
    {
      printf -- '-- +goose Up\n-- CreateTable\n'
      printf 'CREATE TABLE "h_%05d" (\n    "id" UUID NOT NULL,\n    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,\n' "$i"
      printf '    "tenantId" UUID NOT NULL,\n    "status" TEXT NOT NULL DEFAULT '"'"'PENDING'"'"',\n    "payload" JSONB,\n'
      printf '    CONSTRAINT "h_%05d_pkey" PRIMARY KEY ("id")\n);\n\n' "$i"
      printf -- '-- CreateIndex\nCREATE INDEX "h_%05d_tenantId_status_idx" ON "h_%05d"("tenantId", "status");\n\n' "$i" "$i"
      if ((i > 1 && (i - 1) % 9 != 0)); then
        printf -- '-- AddForeignKey\nALTER TABLE "h_%05d" ADD COLUMN "prevId" UUID;\n' "$i"
        printf 'ALTER TABLE "h_%05d" ADD CONSTRAINT "h_%05d_prevId_fkey" FOREIGN KEY ("prevId") REFERENCES "h_%05d"("id") ON DELETE SET NULL ON UPDATE CASCADE;\n\n' "$i" "$i" $((i - 1))
      fi
      if ((i % 2 == 0)); then
        printf -- '-- +goose StatementBegin\n'
        printf 'CREATE OR REPLACE FUNCTION h_%05d_touch() RETURNS trigger AS $$\nBEGIN\n' "$i"
        printf '    NEW."status" := coalesce(NEW."status", '"'"'PENDING'"'"');\n    -- intentionally terse; a ; inside the body\n    RETURN NEW;\nEND;\n$$ LANGUAGE plpgsql;\n'
        printf -- '-- +goose StatementEnd\n\n'
        printf 'CREATE TRIGGER h_%05d_touch BEFORE INSERT ON "h_%05d" FOR EACH ROW EXECUTE FUNCTION h_%05d_touch();\n\n' "$i" "$i" "$i"
      fi
      printf -- '-- +goose Down\nDROP TABLE "h_%05d";\n' "$i"
      if ((i % 2 == 0)); then printf 'DROP FUNCTION h_%05d_touch();\n' "$i"; fi
    } >"$f"
  done
}

dir=${GOOSE_DIR:-}
if [ -z "$dir" ]; then
  dir=$WORK/migrations/goose-files-$FILES; gen "$dir"
fi
n=$(find "$dir" -maxdepth 1 -name '*.sql' | wc -l)
{
  echo "files: $dir ($n .sql, $(grep -l -i -- '-- +goose StatementBegin' "$dir"/*.sql | wc -l) with StatementBegin, $(grep -l -i -- '-- +goose NO TRANSACTION' "$dir"/*.sql | wc -l) NO TRANSACTION)"
  for t in goose ledger; do tool_version "$t"; done
} | tee "$OUT/summary.txt"
prep() { fresh_db_cmd "$1"; }
g=goosefiles_goose l=goosefiles_ledger b=goosefiles_before
trap 'drop_fresh $g $l $b' EXIT
before=()
if [ -n "${LEDGER_BEFORE:-}" ]; then
  before=(-n "ledger-before up ($n files)" -p "$(prep $b)" "$LEDGER_BEFORE up --dir $dir --db $(db_url $b)")
fi
# Once each, checked: both apply every file and leave the same schema.
drop_fresh $g $l $b # left by a run that was stopped
for db in $g $l; do $(fresh_db_cmd "$db"); done
goose -dir "$dir" postgres "$(db_url $g)" up >"$OUT/goose.log" 2>&1 || { cat "$OUT/goose.log"; exit 1; }
ledger up --dir "$dir" --db "$(db_url $l)" >"$OUT/ledger.log" 2>&1 || { cat "$OUT/ledger.log"; exit 1; }
dump() { pg_dump -s -N ledger -T goose_db_version "$(db_url "$1")" | grep -v '^--\|restrict'; }
if ! diff <(dump $g) <(dump $l) >"$OUT/schema.diff"; then
  echo "the schemas differ:"; head -40 "$OUT/schema.diff"; exit 1
fi
echo "same schema after each tool's up: $(dump $l | wc -l) lines" | tee -a "$OUT/summary.txt"
echo "== $RUNS interleaved rounds" | tee -a "$OUT/summary.txt"
interleave -runs "$RUNS" -warmup 1 -csv "$OUT/goose-files.csv" \
  -n "goose up ($n files)" -p "$(prep $g)" "goose -dir $dir postgres $(db_url $g) up" \
  -n "ledger up ($n files)" -p "$(prep $l)" "ledger up --dir $dir --db $(db_url $l)" "${before[@]}" | tee -a "$OUT/summary.txt"
awk -F, 'NR > 1 { if ($1 ~ /^goose/) g = $4; else if ($1 ~ /^ledger-before/) b = $4; else l = $4 }
  END { printf "ratio: ledger / goose = %.2f (%.0f vs %.0f ms; target <= 1.0: %s)\n", l / g, l * 1000, g * 1000, l <= g ? "met" : "NOT met"
        if (b > 0) printf "ratio: ledger-before / goose = %.2f (%.0f ms)\n", b / g, b * 1000 }' \
  "$OUT/goose-files.csv" | tee -a "$OUT/summary.txt"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/summary.txt"
echo "results in $OUT"
