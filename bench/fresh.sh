#!/usr/bin/env bash
# `up` of N trivial migrations on a fresh database, per tool, timed side by side
# with bench/interleave: each round runs every tool once, in random order, each
# on a database created anew (untimed, -p) just before its run — by renaming the
# last one away, not dropping it (bench/fresh-db.sh says why), all dropped at the end.
# Issue 26, target 3: ledger <= 1.0x tern. A ledger binary to compare with
# (e.g. one built from an older commit) joins the rounds as "ledger-before"
# when LEDGER_BEFORE names it.
#   bench/fresh.sh               (RUNS=15 rounds; N=10; FRESH_TOOLS="tern goose ledger")
#   LEDGER_BEFORE=/tmp/ledger-old RUNS=30 bench/fresh.sh
# Results: $WORK/results/fresh-<stamp>/{fresh.csv,summary.txt}.
set -euo pipefail
source "$(dirname "$0")/common.sh"
RUNS=${RUNS:-15}
N=${N:-10}
FRESH_TOOLS=${FRESH_TOOLS:-tern goose ledger}
OUT=${OUT:-$WORK/results/fresh-$(date +%Y%m%d-%H%M%S)}; mkdir -p "$OUT"
build_ledger

up_argv() {  # TOOL URL DIR -> the command, no shell (interleave splits on spaces)
  case $1 in
  goose)  echo "goose -dir $3 postgres $2 up" ;;
  tern)   echo "tern migrate -m $3 --conn-string $2" ;;
  ledger) echo "ledger up --db $2 --dir $3" ;;
  ledger-before) echo "$LEDGER_BEFORE up --db $2 --dir $3" ;;
  esac
}

tools=$FRESH_TOOLS
[ -n "${LEDGER_BEFORE:-}" ] && tools="$tools ledger-before"
{ for t in $FRESH_TOOLS; do tool_version "$t"; done; [ -n "${LEDGER_BEFORE:-}" ] && echo "ledger-before $LEDGER_BEFORE"; } >"$OUT/versions.txt"
cmds=(); dbs=()
for t in $tools; do
  src=${t%-before}
  load_tool "$src" || { echo "skip $t: not on PATH"; continue; }
  dir=$(migdir "$src" "$N")
  [ -d "$dir" ] || TOOLS=$src "$HERE/gen.sh" "$N" >/dev/null
  db=fresh_${t//-/_}; url=$(db_url "$db")
  # One run first, checked: every table there.
  reset_db "$db"
  $(up_argv "$t" "$url" "$dir") >/dev/null 2>&1 || { echo "$t: up failed" >&2; exit 1; }
  [ "$(count_tables "$db")" = "$N" ] || { echo "$t: up did not create the $N tables" >&2; exit 1; }
  cmds+=(-n "$t" -p "$(fresh_db_cmd "$db")" "$(up_argv "$t" "$url" "$dir")")
  dbs+=("$db")
done
echo "== up of $N on a fresh database, $RUNS interleaved rounds; $(uptime | sed 's/.*load/load/')" | tee "$OUT/summary.txt"
interleave -runs "$RUNS" -warmup 2 -csv "$OUT/fresh.csv" "${cmds[@]}" | tee -a "$OUT/summary.txt"
echo "after: $(uptime | sed 's/.*load/load/')" | tee -a "$OUT/summary.txt"
drop_fresh "${dbs[@]}"
awk -F, 'NR > 1 { m[$1] = $4 * 1000 }
  END { for (t in m) if (t !~ /^ledger/) for (l in m) if (l ~ /^ledger/)
          printf "ratio %s / %s = %.2f (%.1f vs %.1f ms)\n", l, t, m[l] / m[t], m[l], m[t] }' "$OUT/fresh.csv" | sort | tee -a "$OUT/summary.txt"
echo "results in $OUT"
