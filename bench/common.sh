# Shared settings and helpers; sourced by every script in bench/.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)   # bench/
ROOT=$(cd "$HERE/.." && pwd)                          # the project (module root)
WORK=${WORK:-/tmp/ledger-bench}                       # everything generated goes here
PGHOSTPORT=${PGHOSTPORT:-127.0.0.1:55432}             # the throwaway cluster from pg.sh
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
# $WORK/bin first: the `ledger` measured is the one built from this checkout.
export PATH="$WORK/bin:$PATH:/usr/local/go/bin:$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"
TOOLS_ALL="goose migrate tern ledger"
NS_ALL="10 100 1000"

db_url() { echo "postgres://postgres@$PGHOSTPORT/$1?sslmode=disable"; }
psql_admin() { psql "$(db_url postgres)" -XqAt -v ON_ERROR_STOP=1 "$@"; }
reset_db_cmd() {  # a shell command string (hyperfine --prepare) that recreates db $1
  echo "PGOPTIONS='-c client_min_messages=warning' psql '$(db_url postgres)' -Xq -c 'drop database if exists $1 with (force)' -c 'create database $1'"
}
reset_db() { eval "$(reset_db_cmd "$1")"; }
# Number of benchmark tables (t_NNNNNN) in a database: a tool-agnostic check of the real schema.
count_tables() { psql "$(db_url "$1")" -XAtc "select count(*) from pg_tables where tablename ~ '^t_[0-9]+$'"; }

# build_ledger: go build the current checkout's CLI (and the bench helpers) into $WORK/bin;
# ledger-lean is the CLI built with -tags ledger_nonats (no NATS).
# Once per run: run-all.sh exports LEDGER_BUILT=1 after building.
build_ledger() {
  [ "${LEDGER_BUILT:-}" = 1 ] && return 0
  mkdir -p "$WORK/bin" "$WORK/build"
  (cd "$ROOT" && go build -o "$WORK/build/ledger" ./cmd/ledger &&
    go build -tags ledger_nonats -o "$WORK/build/ledger-lean" ./cmd/ledger &&
    go build -o "$WORK/build/floor" ./bench/floor &&
    go build -o "$WORK/build/interleave" ./bench/interleave &&
    go build -o "$WORK/build/ledger-seed" ./bench/seed) || { echo "build failed" >&2; return 1; }
  # Copied, not run where the linker wrote them: a binary fresh from the linker
  # starts 0.4-0.9 ms slower (more the bigger it is) for as long as the linker's
  # pages stay in the page cache — measured here, 400 interleaved runs: the
  # floor's binary 2.85 vs 2.41 ms, ledger's 4.98 vs 4.05 ms. A copy starts as an
  # installed binary does, and the ratios stop favouring the smaller binary.
  for b in ledger ledger-lean floor interleave ledger-seed; do
    cp "$WORK/build/$b" "$WORK/bin/$b.tmp" && mv "$WORK/bin/$b.tmp" "$WORK/bin/$b" || return 1
  done
  export LEDGER_BUILT=1
}
# What was measured: the checkout's commit (+dirty) for ledger, module versions for the peers.
tool_version() {
  case "$1" in
  ledger) echo "ledger $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo '+uncommitted changes') ($(go version | awk '{print $3}'))" ;;
  *) load_tool "$1" && echo "$1 $(go version -m "$(command -v "$BIN")" 2>/dev/null | awk '$1 == "mod" { print $3; exit }')" ;;
  esac
}

# load_tool NAME: source tools/NAME.sh; returns 1 if its binary is not installed.
load_tool() {
  unset BIN UP_CMD STATUS_CMD CHECK_CMD DOWN10_CMD HISTORY_SQL DUP_SQL
  unset -f gen_one
  # shellcheck disable=SC1090
  source "$HERE/tools/$1.sh"
  command -v "$BIN" >/dev/null 2>&1
}
migdir() { echo "$WORK/migrations/$1/$2${3:+-$3}"; }   # TOOL N [VARIANT]
# A ledger migration set of n trivial migrations in $WORK/migrations/ledger/<n> (generated once).
ledger_set() {
  local d; d=$(migdir ledger "$1")
  [ -d "$d" ] || TOOLS=ledger "$HERE/gen.sh" "$1" >/dev/null
  echo "$d"
}
# seeded_db NAME EVENTS SETN: database NAME whose ledger holds SETN applied migrations
# (`ledger up` of the trivial set) grown by churn (bench/seed) to EVENTS events.
# SEED_REUSE=1 keeps an existing database that already has at least EVENTS events.
seeded_db() {
  local db=$1 events=$2 setn=$3 url dir have
  url=$(db_url "$db"); dir=$(ledger_set "$setn")
  if [ "${SEED_REUSE:-0}" = 1 ]; then
    have=$(psql "$url" -XAtc 'select coalesce(max(seq), 0) from ledger.events' 2>/dev/null || echo 0)
    if [ "${have:-0}" -ge "$events" ]; then echo "$db: reusing ledger with $have events"; return; fi
  fi
  reset_db "$db"
  ledger up --db "$url" --dir "$dir" >/dev/null
  echo "$db: $(DATABASE_URL=$url "$WORK/bin/ledger-seed" -events "$events")"
}
# fresh_db_cmd NAME: a command (interleave -p) that creates database NAME anew
# without deleting a file before a timed run (bench/fresh-db.sh says why);
# drop_fresh NAME...: drop each NAME and every NAME_old_* that it left.
fresh_db_cmd() { echo "$HERE/fresh-db.sh $(db_url postgres) $1"; }
drop_fresh() {
  local n d
  for n in "$@"; do
    psql_admin -c "SELECT datname FROM pg_database WHERE datname = '$n' OR datname ~ '^${n}_old_[0-9]+\$'" |
      while read -r d; do psql_admin -c "DROP DATABASE \"$d\" WITH (FORCE)"; done
  done
  sync # the freed inodes' table blocks written back: later runs skip them for 5 s, not 300
}
