#!/usr/bin/env bash
# Restores a backup of backup.sh into the database that DATABASE_URL (or
# PGDATABASE and the other PG* variables) names, then checks the row count of
# every table against the dump's manifest.
#
#   DATABASE_URL=postgres://qt_app:...@db:5432/qt infra/postgres/restore.sh var/backups/trade-store-20250101T020000Z.dump
#
# 1. The manifest beside FILE (the same name ending .manifest) is read and the
#    dump's sha256 checked against it: a damaged or other file is refused
#    before the database is touched.
# 2. pg_restore --clean --if-exists --no-owner --single-transaction
#    --exit-on-error: each object of the dump is dropped if it exists and
#    created again with its rows, in one transaction, so a restore that fails
#    leaves the database as it was. Objects owned by the connecting role.
#    The database itself must exist (createdb it first if it was dropped);
#    tables the dump does not have (created since) are left and named.
# 3. Every table's rows counted in one snapshot, compared with the manifest.
#
# Stop execution (the writer) first: rows written meanwhile make the counts differ.
# Exit 0: restored and every count as in the manifest. Exit 1: a failure, or
# counts that differ (each difference on stderr). Exit 2: usage.
# docs/operations.md, "Restore runbook".
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=pg-common.sh
. "$here/pg-common.sh"

[[ $# -eq 1 && -n $1 ]] || qt_die 2 "usage: $0 FILE.dump (its .manifest beside it)"
file=$1
[[ -f $file && -r $file ]] || qt_die 1 "$file: no such readable file"
manifest=${file%.dump}.manifest
[[ $manifest != "$file" && -f $manifest ]] || qt_die 1 "$file: its manifest $manifest is missing; refusing to restore a dump without one"
qt_pg_connection

# The manifest: a header, then "key<TAB>value" lines and "table<TAB>name<TAB>count" lines.
declare -A expected=()
declare -a order=()
format='' sha='' created='' source_db=''
{
  IFS= read -r header || true
  [[ ${header:-} == "$QT_MANIFEST_HEADER" ]] || qt_die 1 "$manifest is not a backup manifest"
  while IFS=$'\t' read -r key a b; do
    case $key in
    format) format=$a ;;
    sha256) sha=$a ;;
    created) created=$a ;;
    database) source_db=$a ;;
    table)
      [[ -n $a && $b =~ ^[0-9]+$ ]] || qt_die 1 "$manifest: bad table line: $key $a $b"
      expected[$a]=$b
      order+=("$a")
      ;;
    esac
  done
} <"$manifest"
[[ $format == "$QT_MANIFEST_FORMAT" ]] || qt_die 1 "$manifest: format '$format' is not $QT_MANIFEST_FORMAT"
[[ $sha =~ ^[0-9a-f]{64}$ ]] || qt_die 1 "$manifest: no sha256"
[[ ${#order[@]} -gt 0 ]] || qt_die 1 "$manifest: lists no table"
actual_sha=$(sha256sum -- "$file")
actual_sha=${actual_sha%% *}
[[ $actual_sha == "$sha" ]] ||
  qt_die 1 "$file: sha256 $actual_sha differs from the manifest's $sha (damaged or not this backup); nothing restored"
echo "restore: $file (sha256 as in the manifest; taken $created from database $source_db, ${#order[@]} tables)"

target=$(qt_psql -c "SELECT current_database() || ' (PostgreSQL ' || current_setting('server_version') || ')'") ||
  qt_die 1 "cannot connect to the target database (if it was dropped, create it first: createdb -O ROLE NAME)"
echo "restore: into database $target"

started=$(qt_now_ms)
pg_restore --clean --if-exists --no-owner --single-transaction --exit-on-error \
  --dbname="$QT_PG_DBNAME" -- "$file" ||
  qt_die 1 "pg_restore failed (see above); the transaction was rolled back, the database is as it was"
restored=$(qt_now_ms)
echo "restore: pg_restore done in $((restored - started)) ms"

# Every table's count, in one REPEATABLE READ snapshot.
counts=$(qt_psql <<SQL
BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
$QT_COUNT_SQL
COMMIT;
SQL
) || qt_die 1 "cannot count the restored rows"
declare -A actual=()
while IFS=$'\t' read -r table count; do
  [[ -n $table ]] && actual[$table]=$count
done <<<"$counts"

differ=0
for table in "${order[@]}"; do
  want=${expected[$table]}
  if [[ -z ${actual[$table]+set} ]]; then
    echo "${0##*/}: $table: missing after the restore, the manifest says $want rows" >&2
    differ=$((differ + 1))
  elif [[ ${actual[$table]} != "$want" ]]; then
    echo "${0##*/}: $table: ${actual[$table]} rows restored, the manifest says $want" >&2
    differ=$((differ + 1))
  else
    echo "restore: $table $want rows, as in the manifest"
  fi
done
for table in "${!actual[@]}"; do
  [[ -n ${expected[$table]+set} ]] ||
    echo "restore: note: $table (${actual[$table]} rows) is not in the backup; left as it was"
done
echo "restore: verified in $(($(qt_now_ms) - restored)) ms; $((restored - started)) ms restoring"
if [[ $differ -gt 0 ]]; then
  qt_die 1 "MISMATCH: $differ of ${#order[@]} tables differ from the manifest"
fi
echo "restore: OK, ${#order[@]} tables as in the manifest"
