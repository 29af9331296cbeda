#!/usr/bin/env bash
# corpus.sh TOOL DIR [SETUP_SQL] — a public migration directory applied by
# its own tool (goose or migrate, on PATH) and by ledger (this checkout),
# each on a fresh database of the server at $CORPUS_PG (default
# 127.0.0.1:5432); prints whether the two schemas (pg_dump -s, without the
# tools' own tables) are identical. SETUP_SQL runs on both databases first
# (an extension, a schema the files expect). Not run by CI: the
# directories are other projects' (see bench/README.md for the figures).
set -euo pipefail
tool=$1 dir=$2 setup=${3:-}
pg=${CORPUS_PG:-127.0.0.1:5432}
url() { echo "postgres://postgres@$pg/$1?sslmode=disable"; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"; for d in corpus_tool corpus_ledger; do psql "$(url postgres)" -Xqc "drop database if exists $d with (force)"; done' EXIT
(cd "$root" && go build -o "$work/ledger" ./cmd/ledger)
for d in corpus_tool corpus_ledger; do
  PGOPTIONS="-c client_min_messages=warning" psql "$(url postgres)" -Xq -c "drop database if exists $d with (force)" -c "create database $d"
  [ -n "$setup" ] && psql "$(url $d)" -Xq -v ON_ERROR_STOP=1 -c "$setup"
done
case $tool in
  goose) goose -dir "$dir" postgres "$(url corpus_tool)" up >"$work/tool.log" 2>&1 ;;
  migrate) migrate -path "$dir" -database "$(url corpus_tool)" up >"$work/tool.log" 2>&1 ;;
  *) echo "tool $tool: want goose or migrate" >&2; exit 2 ;;
esac
"$work/ledger" up --dir "$dir" --db "$(url corpus_ledger)" | tail -1
dump() { pg_dump -s -N ledger -T goose_db_version -T schema_migrations "$(url "$1")" | grep -v '^--\|restrict'; }
dump corpus_tool >"$work/tool.sql"
dump corpus_ledger >"$work/ledger.sql"
if diff -q "$work/tool.sql" "$work/ledger.sql" >/dev/null; then
  echo "identical: $(wc -l <"$work/ledger.sql") lines of schema"
else
  diff "$work/tool.sql" "$work/ledger.sql" | head -40
  exit 1
fi
