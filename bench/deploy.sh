#!/usr/bin/env bash
# Where deploys live: on a database of a real size (TABLES: 300 and 1,000 tables,
# each with a primary key, a default and one more index), `up` of one new
# migration and an `up` with nothing to do, per tool (goose, tern, ledger),
# timed side by side with bench/interleave (each round runs every command once,
# in random order; "up of 1" is prepared, untimed, by the tool's own `down` of one),
# and `down` of one (prepared by an `up`, on a second database of the same schema,
# so that no order of the rounds stacks two downs).
# Issue 26, targets 1 and 2: ledger <= 1.0x goose and tern in each row.
#   bench/deploy.sh            (RUNS=15 rounds; TABLES="300 1000"; DEPLOY_TOOLS="goose tern ledger")
# Results: $WORK/results/deploy-<stamp>/{deploy-<n>.csv,summary.txt}.
set -euo pipefail
source "$(dirname "$0")/common.sh"
RUNS=${RUNS:-15}
TABLES=${TABLES:-300 1000}
DEPLOY_TOOLS=${DEPLOY_TOOLS:-goose tern ledger}
OUT=${OUT:-$WORK/results/deploy-$(date +%Y%m%d-%H%M%S)}; mkdir -p "$OUT"
build_ledger

# The schema: n tables, each with a primary key, a column with a default and an index.
schema_sql() {
  local i
  for i in $(seq 1 "$1"); do
    printf 'CREATE TABLE app_%05d (id bigint PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());\n' "$i"
    printf 'CREATE INDEX app_%05d_name_idx ON app_%05d (name);\n' "$i" "$i"
  done
}
schema_down() { local i; for i in $(seq 1 "$1"); do printf 'DROP TABLE app_%05d;\n' "$i"; done; }
NEW_UP='CREATE TABLE deploy_new (id bigint PRIMARY KEY, note text);'
NEW_DOWN='DROP TABLE deploy_new;'

# gen TOOL N DIR: migration 1 = the schema, migration 2 = one new table.
gen() {
  local tool=$1 n=$2 d=$3 up down
  rm -rf "$d"; mkdir -p "$d"
  up=$(schema_sql "$n"); down=$(schema_down "$n")
  case $tool in
  goose)  printf -- '-- +goose Up\n%s\n-- +goose Down\n%s\n' "$up" "$down" >"$d/00001_schema.sql"
          printf -- '-- +goose Up\n%s\n-- +goose Down\n%s\n' "$NEW_UP" "$NEW_DOWN" >"$d/00002_new.sql" ;;
  tern)   printf '%s\n---- create above / drop below ----\n%s\n' "$up" "$down" >"$d/001_schema.sql"
          printf '%s\n---- create above / drop below ----\n%s\n' "$NEW_UP" "$NEW_DOWN" >"$d/002_new.sql" ;;
  ledger) printf '%s\n' "$up" >"$d/00001_schema.up.sql"; printf '%s\n' "$down" >"$d/00001_schema.down.sql"
          printf '%s\n' "$NEW_UP" >"$d/00002_new.up.sql"; printf '%s\n' "$NEW_DOWN" >"$d/00002_new.down.sql" ;;
  esac
}
# up/down1 TOOL DSN DIR: the commands (no shell; interleave splits on spaces).
up_cmd() {
  case $1 in
  goose)  echo "goose -dir $3 postgres $2 up" ;;
  tern)   echo "tern migrate -m $3 --conn-string $2" ;;
  ledger) echo "ledger up --db $2 --dir $3" ;;
  esac
}
down1_cmd() {
  case $1 in
  goose)  echo "goose -dir $3 postgres $2 down" ;;
  tern)   echo "tern migrate -m $3 --conn-string $2 -d -1" ;;
  ledger) echo "ledger down --db $2 --dir $3 --steps 1" ;;
  esac
}

for t in $DEPLOY_TOOLS; do tool_version "$t"; done >"$OUT/versions.txt"
: >"$OUT/summary.txt"
for n in $TABLES; do
  cmds=()
  for t in $DEPLOY_TOOLS; do
    load_tool "$t" || { echo "skip $t: not on PATH"; continue; }
    d=$WORK/migrations/deploy/$t-$n; gen "$t" "$n" "$d"
    for db in deploy_${t}_$n deploy_${t}_${n}_down; do
      url=$(db_url "$db"); reset_db "$db"
      $(up_cmd "$t" "$url" "$d") >/dev/null 2>&1 || { echo "$t: the first up failed" >&2; exit 1; }
      [ "$(psql "$url" -XAtc "select count(*) from pg_tables where schemaname = 'public' and tablename ~ '^(app_|deploy_new)'")" = $((n + 1)) ] ||
        { echo "$t: the schema is not what it should be after up" >&2; exit 1; }
    done
    url=$(db_url "deploy_${t}_$n"); down=$(db_url "deploy_${t}_${n}_down")
    cmds+=(-n "$t up of 1 ($n tables)" -p "$(down1_cmd "$t" "$url" "$d")" "$(up_cmd "$t" "$url" "$d")"
           -n "$t no-op up ($n tables)" "$(up_cmd "$t" "$url" "$d")"
           -n "$t down of 1 ($n tables)" -p "$(up_cmd "$t" "$down" "$d")" "$(down1_cmd "$t" "$down" "$d")")
  done
  echo "== $n tables, $RUNS interleaved rounds"
  interleave -runs "$RUNS" -warmup 2 -csv "$OUT/deploy-$n.csv" "${cmds[@]}" | tee -a "$OUT/summary.txt"
  # ledger / peer ratios, per kind of run
  awk -F, -v n="$n" 'NR > 1 { split($1, w, " "); tool = w[1]; kind = ($1 ~ /no-op/) ? "no-op up" : ($1 ~ /down/) ? "down of 1" : "up of 1"; m[tool, kind] = $4 * 1000; tools[tool] = 1 }
    END { for (k = 0; k < 3; k++) { kind = k == 2 ? "down of 1" : k ? "no-op up" : "up of 1";
            for (t in tools) if (t != "ledger" && m[t, kind] > 0)
              printf "ratio %s (%s tables): ledger / %s = %.2f (%.1f vs %.1f ms)\n", kind, n, t, m["ledger", kind] / m[t, kind], m["ledger", kind], m[t, kind] } }' \
    "$OUT/deploy-$n.csv" | sort | tee -a "$OUT/summary.txt"
done
echo "results in $OUT"
