#!/usr/bin/env bash
# Fleet rollouts against `xargs -P N goose up`, on the throwaway cluster (pg.sh):
#   1. a rollout with nothing to apply over $NOOP_N databases (default 1000), at the
#      default parallelism, beside `xargs -P 8 goose up` over the same databases;
#      and the same over $NOOP_N tenant schemas of one database;
#   2. 10 migrations over $FRESH_N fresh databases (default 200) at parallel 8,
#      beside `xargs -P 8 goose up` over as many fresh databases;
#   3. the controller's peak memory (max RSS) in the no-op rollout of 1;
#   and, beside 1, its floor: a bare connection to each database, closed (rollout -floor).
# Databases are named rollout_bench_*; KEEP=1 keeps them, otherwise they are dropped;
# REUSE=1 uses those an earlier KEEP=1 run left (1,000 tenant ledgers take minutes to
# create); FRESH_N=0 leaves out 2. Each round prints the load average (1 min) it ran at.
#   ./rollout.sh            (env: NOOP_N, FRESH_N, P, KEEP, REUSE)
set -euo pipefail
source "$(dirname "$0")/common.sh"
NOOP_N=${NOOP_N:-1000}; FRESH_N=${FRESH_N:-200}; P=${P:-8}
"$HERE/pg.sh" ensure >/dev/null
mkdir -p "$WORK/bin" "$WORK/rollout"
(cd "$ROOT" && go build -o "$WORK/build/rollout" ./bench/rollout) && cp "$WORK/build/rollout" "$WORK/bin/rollout-bench"
export PATH="$PATH:${LEDGER_PEER_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/ledger-peer-tools/goose-v3.30.0_migrate-v4.20.1}"
load_tool goose || { echo "goose is not installed (see .ci/run: LEDGER_PEER_TOOLS)" >&2; exit 1; }
D=$WORK/rollout
# Migration sets: ledger's l_ tables, goose's g_ tables, so both tools can share a database.
mk_sets() {  # N
  local n=$1 i
  rm -rf "$D/ledger-$n" "$D/goose-$n"; mkdir -p "$D/ledger-$n" "$D/goose-$n"
  for ((i = 1; i <= n; i++)); do
    printf 'CREATE TABLE l_%06d (id int);\n' "$i" > "$D/ledger-$n/$(printf %06d "$i")_t.up.sql"
    printf -- '-- +goose Up\nCREATE TABLE g_%06d (id int);\n-- +goose Down\nDROP TABLE g_%06d;\n' "$i" "$i" > "$D/goose-$n/$(printf %06d "$i")_t.sql"
  done
}
mk_sets 1; mk_sets 10
dbs() {  # PREFIX N: database names
  local i; for ((i = 0; i < $2; i++)); do printf '%s%04d\n' "$1" "$i"; done
}
create_dbs() { dbs "$1" "$2" | xargs -P 4 -I{} psql "$(db_url postgres)" -Xqc 'create database {}' >/dev/null; }
drop_dbs() { dbs "$1" "$2" | PGOPTIONS='-c client_min_messages=warning' xargs -P 4 -I{} psql "$(db_url postgres)" -Xqc 'drop database if exists {} with (force)' >/dev/null; }
urls() { dbs "$1" "$2" | while read -r d; do db_url "$d"; done; }
CONTROL=rollout_bench_control
[ "${REUSE:-0}" = 1 ] && [ -n "$(psql_admin -c "select 1 from pg_database where datname = '$CONTROL'")" ] ||
  psql_admin -c "drop database if exists $CONTROL with (force)" -c "create database $CONTROL"
load() { cut -d' ' -f1 /proc/loadavg; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }

echo "== 1. nothing to apply: $NOOP_N databases"
NOOP=rollout_bench_noop_
if [ "${REUSE:-0}" = 1 ]; then
  have=$(psql_admin -c "select count(*) from pg_database where datname like '${NOOP}%'")
  [ "$have" = "$NOOP_N" ] || { drop_dbs $NOOP "$NOOP_N"; create_dbs $NOOP "$NOOP_N"; }
else
  drop_dbs $NOOP "$NOOP_N"; create_dbs $NOOP "$NOOP_N"
fi
urls $NOOP "$NOOP_N" > "$D/noop.targets"
rollout-bench -targets "$D/noop.targets" -dir "$D/ledger-1" -control "$(db_url $CONTROL)" >/dev/null   # bring them to the set
xargs -P "$P" -I{} goose -dir "$D/goose-1" postgres {} up < "$D/noop.targets" >/dev/null 2>&1
for round in 1 2 3; do
  t0=$(date +%s%N)
  /usr/bin/time -f '%M' -o "$D/rss" rollout-bench -targets "$D/noop.targets" -dir "$D/ledger-1" -control "$(db_url $CONTROL)" > "$D/out"
  t1=$(date +%s%N)
  xargs -P "$P" -I{} goose -dir "$D/goose-1" postgres {} up < "$D/noop.targets" >/dev/null 2>&1
  t2=$(date +%s%N)
  rollout-bench -floor -targets "$D/noop.targets" >/dev/null
  t3=$(date +%s%N)
  l=$(secs "$t0" "$t1"); g=$(secs "$t1" "$t2"); f=$(secs "$t2" "$t3")
  echo "round $round: ledger rollout $l s (max RSS $(( $(cat "$D/rss") / 1024 )) MB; $(cat "$D/out")), xargs -P $P goose up $g s, ratio $(awk -v l="$l" -v g="$g" 'BEGIN { printf "%.2f", l / g }'); floor (connect and close, parallel 8) $f s, rollout/floor $(awk -v l="$l" -v f="$f" 'BEGIN { printf "%.2f", l / f }'); load $(load)"
done
[ "${KEEP:-0}" = 1 ] || drop_dbs $NOOP "$NOOP_N"

echo "== 1b. nothing to apply: $NOOP_N tenant schemas of one database"
TEN=rollout_bench_tenants
if [ "${REUSE:-0}" != 1 ] || [ -z "$(psql_admin -c "select 1 from pg_database where datname = '$TEN'")" ]; then
  psql_admin -c "drop database if exists $TEN with (force)" -c "create database $TEN"
  echo "select format('create schema tenant_%s', lpad(i::text, 4, '0')) from generate_series(0, $NOOP_N - 1) i \gexec" | psql "$(db_url $TEN)" -Xq >/dev/null
fi
rollout-bench -tenants-db "$(db_url $TEN)" -dir "$D/ledger-1" -control "$(db_url $CONTROL)" >/dev/null
for round in 1 2 3; do
  t0=$(date +%s%N)
  /usr/bin/time -f '%M' -o "$D/rss" rollout-bench -tenants-db "$(db_url $TEN)" -dir "$D/ledger-1" -control "$(db_url $CONTROL)" > "$D/out"
  t1=$(date +%s%N)
  echo "round $round: ledger rollout over tenants $(secs "$t0" "$t1") s (max RSS $(( $(cat "$D/rss") / 1024 )) MB; $(cat "$D/out")), load $(load)"
done
[ "${KEEP:-0}" = 1 ] || psql_admin -c "drop database if exists $TEN with (force)"

[ "$FRESH_N" = 0 ] && { [ "${KEEP:-0}" = 1 ] || psql_admin -c "drop database if exists $CONTROL with (force)"; exit 0; }
echo "== 2. 10 migrations over $FRESH_N fresh databases at parallel $P"
FR=rollout_bench_fresh_
for round in 1 2; do
  drop_dbs $FR "$FRESH_N"; create_dbs $FR "$FRESH_N"; urls $FR "$FRESH_N" > "$D/fresh.targets"
  t0=$(date +%s%N)
  rollout-bench -targets "$D/fresh.targets" -dir "$D/ledger-10" -control "$(db_url $CONTROL)" -parallel "$P" > "$D/out"
  t1=$(date +%s%N)
  drop_dbs $FR "$FRESH_N"; create_dbs $FR "$FRESH_N"
  t2=$(date +%s%N)
  xargs -P "$P" -I{} goose -dir "$D/goose-10" postgres {} up < "$D/fresh.targets" >/dev/null 2>&1
  t3=$(date +%s%N)
  l=$(secs "$t0" "$t1"); g=$(secs "$t2" "$t3")
  echo "round $round: ledger rollout $l s ($(cat "$D/out")), xargs -P $P goose up $g s, ratio $(awk -v l="$l" -v g="$g" 'BEGIN { printf "%.2f", l / g }')"
done
[ "${KEEP:-0}" = 1 ] || drop_dbs $FR "$FRESH_N"
psql_admin -c "drop database if exists $CONTROL with (force)"
