#!/usr/bin/env bash
# The whole suite, one command: build the checkout's `ledger`, start the throwaway cluster
# if needed, then the peer table (run.sh), the floor (floor.sh), check at 100 vs 100,000
# events (check-scale.sh), 8 concurrent up (race.sh), status/check during a 5 s migration
# (block.sh), ledger verify of 1,000,000 events (verify-1m.sh) and the Go benchmarks;
# finally a table of the targets, measured values and ratios (summary.md).
#   bench/run-all.sh            (~10-12 min on 2 cores; WORK=/tmp/ledger-bench)
#   SKIP="gobench verify" bench/run-all.sh   skip steps: run floor scale race block verify drift deploy fresh goosefiles gobench
#   SUMMARY_OF=$WORK/results/all-<stamp> bench/run-all.sh   only rebuild that run's summary.md
# Results: $WORK/results/all-<stamp>/ (one log per step, CSVs, summary.md).
set -euo pipefail
source "$(dirname "$0")/common.sh"
STAMP=$(date +%Y%m%d-%H%M%S)
if [ -n "${SUMMARY_OF:-}" ]; then R=$SUMMARY_OF; else
R=$WORK/results/all-$STAMP; mkdir -p "$R"
SKIP=${SKIP:-}
t_all=$(date +%s)
"$HERE/pg.sh" ensure
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install -y hyperfine)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs GNU time (apt-get install -y time)" >&2; exit 1; }
build_ledger
rm -rf "$WORK/migrations"   # regenerate: the adapters' file formats may have changed

step() {  # step NAME CMD... : run, log to $R/NAME.log (and the terminal), time it
  local name=$1; shift
  case " $SKIP " in *" $name "*) echo "== $name: skipped"; return 0 ;; esac
  echo "== $name: $*"
  local t0; t0=$(date +%s)
  if "$@" 2>&1 | tee "$R/$name.log"; then :; else echo "!! $name FAILED (exit ${PIPESTATUS[0]})" | tee -a "$R/$name.log"; fi
  echo "$name $(( $(date +%s) - t0 ))" >>"$R/durations.txt"
}
export EVENTS=${EVENTS:-1000000}
step run     env OUT="$R/run" TOOLS="goose migrate tern ledger" NS="10 100 1000" "$HERE/run.sh"
step floor   env CSV="$R/floor.csv" "$HERE/floor.sh"
step scale   env CSV="$R/check-scale.csv" "$HERE/check-scale.sh"
step race    env OUT="$R/race" TOOLS="ledger goose" P=8 "$HERE/race.sh"
step block   env OUT="$R/block" TOOLS="ledger goose migrate tern" SLEEP=5 "$HERE/block.sh"
step verify  env OUT="$R/verify" "$HERE/verify-1m.sh"
step drift   env OUT="$R/drift.log" "$HERE/drift.sh"
step deploy  env OUT="$R/deploy" "$HERE/deploy.sh"
step fresh   env OUT="$R/fresh" "$HERE/fresh.sh"
step goosefiles env OUT="$R/goose-files" "$HERE/goose-files.sh"
step gobench env LEDGER_TEST_DATABASE_URL="$(db_url postgres)" \
  sh -c "cd '$ROOT' && go test -run '^\$' -bench . -count 1 ./ledger ./migrations"
total=$(( $(date +%s) - t_all )); echo "$total" >"$R/total.txt"
{
echo "Machine: $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(free -g | awk '/Mem:/ { print $2 }') GB RAM," \
  "PostgreSQL $(psql "$(db_url postgres)" -XAtc 'show server_version' 2>/dev/null) (throwaway cluster, defaults, fsync on)," \
  "$(hyperfine --version), $(go version | awk '{ print $3 }'); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
echo "Versions: $(for t in $TOOLS_ALL; do tool_version "$t"; done | paste -sd';' | sed 's/;/; /g')."
} >"$R/machine.txt"
fi
total=$(cat "$R/total.txt")

# ---- summary: the targets, measured values, ratios (a missing input shows as ?)
set +e
tsv=$R/run/results.tsv
col() { awk -F'\t' -v t="$1" -v n="$2" -v c="$3" 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i }
  NR > 1 && $1 == t && $2 == n { print $(h[c]) }' "$tsv" 2>/dev/null; }
fcsv() { awk -F, -v k="$2" 'NR > 1 && $1 == k { printf "%.2f", $4 * 1000 }' "$1" 2>/dev/null; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { if (r == "" || r == "-") print "not measured"; else print (r + 0 <= t + 0) ? "met" : "**NOT met**" }'; }
floor=$(fcsv "$R/floor.csv" 'floor: Go start + pgx connect + SELECT 1')
chk10=$(fcsv "$R/floor.csv" 'ledger check (10 applied)'); chk1000=$(fcsv "$R/floor.csv" 'ledger check (1000 applied)')
lean10=$(fcsv "$R/floor.csv" 'ledger-lean check (10 applied)'); lean1000=$(fcsv "$R/floor.csv" 'ledger-lean check (1000 applied)')
head10=$(fcsv "$R/floor.csv" "floor -sql: check's head read (10 applied)")
s100=$(awk -F, 'NR == 2 { printf "%.2f", $4 * 1000 }' "$R/check-scale.csv" 2>/dev/null)
s100k=$(awk -F, 'NR == 3 { printf "%.2f", $4 * 1000 }' "$R/check-scale.csv" 2>/dev/null)
lup=$(col ledger 1000 up_s); gup=$(col goose 1000 up_s)   # up_s of 1000 = ms per migration
lst=$(col ledger 1000 status_ms); gst=$(col goose 1000 status_ms)
blk() { awk -v t="$1" -v k="$2" '$1 == t && $2 == k' "$R/block.log" 2>/dev/null | sed -n 's/.*during the up: *\([0-9.]*\) ms.*/\1/p'; }
blk1() { awk -v t="$1" -v k="$2" '$1 == t && $2 == k' "$R/block.log" 2>/dev/null | sed -n 's/.*during a [0-9]*s up: rc=[0-9]* *\([0-9]*\) ms.*/\1/p'; }
bchk=$(blk ledger CHECK); bst=$(blk ledger STATUS); bfl=$(blk ledger FLOOR); bchk1=$(blk1 ledger CHECK); bst1=$(blk1 ledger STATUS)
bmax=$(printf '%s\n' "$bchk" "$bst" | sort -g | tail -n 1)
race=$(grep '^RESULT ledger' "$R/race.log" 2>/dev/null | sed 's/^RESULT ledger: //')
gb() { awk -v b="$1" '$1 ~ "^"b"-[0-9]+$" { printf "%.3f", $3 / 1e6 }' "$R/gobench.log" 2>/dev/null; }
ic100=$(gb 'BenchmarkCheck/events=100'); ic100k=$(gb 'BenchmarkCheck/events=100000')
icmax=$(printf '%s\n' "$ic100" "$ic100k" | sort -g | tail -n 1)
# deploy.sh: median ms of "<tool> <kind> (<n> tables)" in deploy-<n>.csv
dep() { awk -F, -v k="$1 $2 ($3 tables)" 'NR > 1 && $1 == k { printf "%.1f", $4 * 1000 }' "$R/deploy/deploy-$3.csv" 2>/dev/null; }
deprow() {  # deprow KIND N: one summary row, ledger against goose and against tern
  local l g t; l=$(dep ledger "$1" "$2"); g=$(dep goose "$1" "$2"); t=$(dep tern "$1" "$2")
  local rg rt worst; rg=$(ratio "$l" "$g"); rt=$(ratio "$l" "$t"); worst=$(printf '%s\n' "$rg" "$rt" | grep -v '^-$' | sort -g | tail -n 1)
  local what="\`ledger up\` ($1)"; [ "$1" = "down of 1" ] && what="\`ledger down\` of 1"
  echo "| 10 | $what, $2 tables with an index each <= 1.0x goose and tern | ${l:-?} ms vs goose ${g:-?} ms, tern ${t:-?} ms | $rg / $rt | $(verdict "${worst:--}" 1.0) |"
}
# fresh.sh and goose-files.sh: median ms of a named command in their CSV
med() { awk -F, -v k="$2" 'NR > 1 && $1 == k { printf "%.1f", $4 * 1000 }' "$1" 2>/dev/null; }
frl=$(med "$R/fresh/fresh.csv" ledger); frt=$(med "$R/fresh/fresh.csv" tern); frg=$(med "$R/fresh/fresh.csv" goose)
gfl=$(awk -F, 'NR > 1 && $1 ~ /^ledger up/ { printf "%.1f", $4 * 1000 }' "$R/goose-files/goose-files.csv" 2>/dev/null)
gfg=$(awk -F, 'NR > 1 && $1 ~ /^goose up/ { printf "%.1f", $4 * 1000 }' "$R/goose-files/goose-files.csv" 2>/dev/null)
vline=$(grep '^verify of' "$R/verify.log" 2>/dev/null || true)
vwall=$(printf '%s' "$vline" | sed -n 's/.*median wall \([0-9.]*\) s.*/\1/p')
vrss=$(printf '%s' "$vline" | sed -n 's/.*peak RSS \([0-9.]*\) MB.*/\1/p')
{
  echo "## Results $(date -u -r "$R/total.txt" '+%Y-%m-%d %H:%M UTC') (run-all: $((total / 60)) min $((total % 60)) s)"
  echo
  cat "$R/machine.txt"
  echo
  echo "| # | target | measured | ratio | verdict |"
  echo "| --- | --- | --- | --- | --- |"
  echo "| 1a | \`ledger check\` (process, 10 applied) <= 1.2x floor (start+connect+SELECT 1) | ${chk10:-?} ms vs floor ${floor:-?} ms | $(ratio "$chk10" "$floor") | $(verdict "$(ratio "$chk10" "$floor")" 1.2) |"
  echo "| 1a | \`ledger check\` (process, 1000 applied) <= 1.2x floor | ${chk1000:-?} ms vs floor ${floor:-?} ms | $(ratio "$chk1000" "$floor") | $(verdict "$(ratio "$chk1000" "$floor")" 1.2) |"
  echo "| 1a | ... lean build (-tags ledger_nonats), 10 applied <= 1.2x floor | ${lean10:-?} ms vs floor ${floor:-?} ms | $(ratio "$lean10" "$floor") | $(verdict "$(ratio "$lean10" "$floor")" 1.2) |"
  echo "| 1a | ... lean build, 1000 applied <= 1.2x floor | ${lean1000:-?} ms vs floor ${floor:-?} ms | $(ratio "$lean1000" "$floor") | $(verdict "$(ratio "$lean1000" "$floor")" 1.2) |"
  echo "| 1a | ... below it: check's head read run by the floor's own program (\`floor -sql\`), 10 applied | ${head10:-?} ms vs floor ${floor:-?} ms | $(ratio "$head10" "$floor") | the server's share: no check reading the head this way goes below it |"
  echo "| 1b | \`ledger check\` with 100,000 events <= 1.3x with 100 | ${s100k:-?} ms vs ${s100:-?} ms | $(ratio "$s100k" "$s100") | $(verdict "$(ratio "$s100k" "$s100")" 1.3) |"
  echo "| 2 | \`ledger up\` of 1000: per migration <= goose's | ${lup:-?} ms vs goose ${gup:-?} ms | $(ratio "$lup" "$gup") | $(verdict "$(ratio "$lup" "$gup")" 1.0) |"
  echo "| 3 | \`ledger status\`, 1000 applied <= 0.5x \`goose status\` | ${lst:-?} ms vs goose ${gst:-?} ms | $(ratio "$lst" "$gst") | $(verdict "$(ratio "$lst" "$gst")" 0.5) |"
  echo "| 4 | check and status during a 5 s migration <= 10 ms | check ${bchk:-?} ms, status ${bst:-?} ms (medians of 10; one shot: ${bchk1:-?} / ${bst1:-?} ms; floor at the same time ${bfl:-?} ms) | $(ratio "$bmax" 10) of 10 ms | $(verdict "$(ratio "$bmax" 10)" 1.0) |"
  echo "| 5 | 8 concurrent \`ledger up\`: all exit 0, each migration once | ${race:-not measured} | - | $(case "$race" in *PASS) echo met ;; "") echo "not measured" ;; *) echo "**NOT met**" ;; esac) |"
  echo "| 6a | in-process Check <= 1 ms | ${ic100:-?} ms (100 events), ${ic100k:-?} ms (100,000) (go bench ns/op) | $(ratio "$icmax" 1) of 1 ms | $(verdict "$(ratio "$icmax" 1)" 1.0) |"
  echo "| 6b | \`ledger verify\` of 1,000,000 events <= 5 s | ${vwall:-?} s (median of 3) | $(ratio "$vwall" 5) of 5 s | $(verdict "$(ratio "$vwall" 5)" 1.0) |"
  echo "| 6b | ... peak RSS <= 200 MB | ${vrss:-?} MB | $(ratio "$vrss" 200) of 200 MB | $(verdict "$(ratio "$vrss" 200)" 1.0) |"
  for n in 300 1000; do deprow "up of 1" "$n"; deprow "no-op up" "$n"; deprow "down of 1" "$n"; done
  echo "| 11 | \`ledger up\` of 10 on a fresh database <= 1.0x tern | ${frl:-?} ms vs tern ${frt:-?} ms (goose ${frg:-?} ms) | $(ratio "$frl" "$frt") | $(verdict "$(ratio "$frl" "$frt")" 1.0) |"
  echo "| 12 | goose files in Hatchet's shape: \`ledger up\` <= 1.0x goose | ${gfl:-?} ms vs goose ${gfg:-?} ms | $(ratio "$gfl" "$gfg") | $(verdict "$(ratio "$gfl" "$gfg")" 1.0) |"
  echo
  echo "### Peer table (run.sh)"
  echo
  cat "$R/run/results.md" 2>/dev/null || echo "(not run)"
  echo
  echo "### Step durations (s)"
  echo
  awk '{ printf "%s %s; ", $1, $2 } END { print "" }' "$R/durations.txt"
} >"$R/summary.md"
echo; cat "$R/summary.md"; echo; echo "all results in $R"
