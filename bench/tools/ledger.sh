# shellcheck shell=bash disable=SC2034,SC2016  # sourced by common.sh:load_tool
# The project's own CLI (cmd/ledger), built from this checkout into $WORK/bin by
# common.sh:build_ledger (run-all.sh does it once; each script calls it too).
BIN=ledger
# Migration files: <id>.up.sql and <id>.down.sql, id = 000001_t ...
gen_one() {
  local f; f="$2/$(printf %06d "$1")_t"
  printf '%s\n' "$3" > "$f.up.sql"
  printf '%s\n' "$4" > "$f.down.sql"
}
# ledger reads its DSN from DATABASE_URL.
UP_CMD='ledger up --dir "$MIGDIR"'
STATUS_CMD='ledger status --dir "$MIGDIR"'
CHECK_CMD='ledger check --dir "$MIGDIR"'
# --to ID keeps ID and reverts what follows; --to 0 reverts everything (N=10: TARGET=0).
# (`--to 000000_t` is refused: not a known migration id.)
DOWN10_CMD='if [ "$TARGET" = 0 ]; then ledger down --dir "$MIGDIR" --to 0; else ledger down --dir "$MIGDIR" --to "$(printf %06d "$TARGET")_t"; fi'
# One row per recorded application (race.sh counts duplicates) ...
HISTORY_SQL="select payload->>'id' from ledger.events where type = 'migration.applied'"
# ... and the migrations applied more than once, which must be none.
DUP_SQL="select payload->>'id', count(*) from ledger.events where type = 'migration.applied' group by 1 having count(*) > 1"
