#!/usr/bin/env bash
# Backs up the trade store's PostgreSQL database: a pg_dump in custom format
# (-Fc) and a manifest beside it with the row count of every table, both
# counted in the snapshot the dump reads, then removes this script's own
# backups older than the retention. Run daily by quantum-trader-backup.timer.
#
#   DATABASE_URL=postgres://qt_app:...@db:5432/qt infra/postgres/backup.sh [DIR]
#
# DIR: the argument, else QT_BACKUP_DIR, else var/backups (relative to the
# working directory). Writes DIR/trade-store-YYYYMMDDTHHMMSSZ.dump and .manifest
# (UTC). Connection: DATABASE_URL or the PG* variables (pg-common.sh); the
# password is never printed. Settings:
#   QT_BACKUP_RETENTION_DAYS  backups older than this many days are removed (default 14, at least 1)
#   QT_BACKUP_LOCK_TIMEOUT    longest wait for a table lock, as PostgreSQL's lock_timeout (default 60s)
#
# Exit 0: both files written. Exit 2: a bad argument or setting. Any other
# failure exits 1 or the failing program's status, and leaves no dump or
# manifest under its final name (each is written as .NAME.partial, renamed at
# the end); retention runs only after a good backup.
# docs/operations.md, "PostgreSQL backups and restore".
set -euo pipefail
# A write to a psql that died fails the write (and so the script), not a signal that skips the clean-up.
trap '' PIPE
# The dumps hold every trade: readable by their owner only.
umask 077

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=pg-common.sh
. "$here/pg-common.sh"

[[ $# -le 1 ]] || qt_die 2 "usage: $0 [DIR]"
dir=${1:-${QT_BACKUP_DIR:-var/backups}}
[[ -n $dir ]] || qt_die 2 "DIR is empty"
retention=${QT_BACKUP_RETENTION_DAYS:-14}
[[ $retention =~ ^[0-9]+$ && $retention -ge 1 ]] ||
  qt_die 2 "QT_BACKUP_RETENTION_DAYS must be a whole number of days, 1 or more"
lock_timeout=${QT_BACKUP_LOCK_TIMEOUT:-60s}
[[ $lock_timeout =~ ^[0-9]+(ms|s|min)?$ ]] || qt_die 2 "QT_BACKUP_LOCK_TIMEOUT must be like 60s, 500ms or 2min"
qt_pg_connection

mkdir -p -- "$dir" || qt_die 1 "cannot create the backup directory $dir"
[[ -d $dir && -w $dir ]] || qt_die 1 "the backup directory $dir is not a writable directory"
# One backup at a time into a directory.
exec 9>>"$dir/.$QT_BACKUP_PREFIX.lock"
flock -n 9 || qt_die 1 "another backup into $dir is running"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
name="$QT_BACKUP_PREFIX-$stamp"
dump="$dir/$name.dump"
manifest="$dir/$name.manifest"
[[ ! -e $dump && ! -e $manifest ]] || qt_die 1 "$dump already exists"
work=$(mktemp -d "${TMPDIR:-/tmp}/qt-backup.XXXXXX")
psql_pid=
done=0

cleanup() {
  local status=$?
  exec 3>&- 4<&-
  if [[ -n $psql_pid ]]; then kill "$psql_pid" 2>/dev/null || true; fi
  rm -rf -- "$work"
  if [[ $done -ne 1 ]]; then
    # Nothing of a failed run is left to look like a backup.
    rm -f -- "$dir/.$name.dump.partial" "$dir/.$name.manifest.partial" "$dump" "$manifest"
    echo "${0##*/}: FAILED (exit $status); no backup written" >&2
    [[ $status -ne 0 ]] || status=1
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

started=$(qt_now_ms)

# The snapshot: one REPEATABLE READ transaction, kept open by a psql session
# on two FIFOs, exports its snapshot; the row counts are read in it and
# pg_dump --snapshot reads exactly the same rows.
mkfifo "$work/in" "$work/out"
# shellcheck disable=SC2119 # no arguments: the SQL comes on stdin
qt_psql <"$work/in" >"$work/out" &
psql_pid=$!
exec 3>"$work/in" 4<"$work/out"
END='__qt_end__'

# Sends SQL to the session, then reads its answer lines up to the end marker into the array `answer`.
ask() {
  printf '%s\n\\echo %s\n' "$1" "$END" >&3
  answer=()
  local line
  while IFS= read -r line <&4; do
    [[ $line == "$END" ]] && return 0
    answer+=("$line")
  done
  qt_die 1 "the PostgreSQL session ended (see its error above)"
}

ask "SET lock_timeout = '$lock_timeout';
BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
SELECT current_database(), current_setting('server_version'), pg_export_snapshot();"
IFS=$'\t' read -r database server_version snapshot <<<"${answer[0]:-}"
[[ -n ${snapshot:-} ]] || qt_die 1 "no snapshot exported"
echo "backup: database $database (PostgreSQL $server_version), snapshot $snapshot"
ask "$QT_COUNT_SQL"
tables=("${answer[@]}")
[[ ${#tables[@]} -gt 0 ]] || qt_die 1 "the database $database has no table to back up"

pg_dump --format=custom --snapshot="$snapshot" --lock-wait-timeout="$lock_timeout" \
  --file="$dir/.$name.dump.partial" --dbname="$QT_PG_DBNAME"
ask "COMMIT;"
printf '\\q\n' >&3
exec 3>&-
wait "$psql_pid"
psql_pid=

# The archive must read back before it counts as a backup.
pg_restore --list "$dir/.$name.dump.partial" >/dev/null || qt_die 1 "pg_restore cannot read the dump just written"
sha=$(sha256sum "$dir/.$name.dump.partial")
sha=${sha%% *}
{
  echo "$QT_MANIFEST_HEADER"
  printf 'format\t%s\n' "$QT_MANIFEST_FORMAT"
  printf 'dump\t%s\n' "$name.dump"
  printf 'created\t%s\n' "$(date -u -d "@${started:0:-3}" +%Y-%m-%dT%H:%M:%SZ)"
  printf 'database\t%s\n' "$database"
  printf 'server_version\t%s\n' "$server_version"
  printf 'snapshot\t%s\n' "$snapshot"
  printf 'sha256\t%s\n' "$sha"
  for row in "${tables[@]}"; do printf 'table\t%s\n' "$row"; done
} >"$dir/.$name.manifest.partial"
sync -- "$dir/.$name.dump.partial" "$dir/.$name.manifest.partial"
mv -- "$dir/.$name.dump.partial" "$dump"
mv -- "$dir/.$name.manifest.partial" "$manifest"
sync -- "$dir"
done=1

for row in "${tables[@]}"; do
  IFS=$'\t' read -r table count <<<"$row"
  echo "backup: $table $count rows"
done
size=$(stat -c %s -- "$dump")
echo "backup: wrote $dump ($size bytes) and $name.manifest in $(($(qt_now_ms) - started)) ms"

# Retention: this script's own files (by the UTC time in their name) older than the retention.
cutoff=$(date -u -d "@$(($(date +%s) - retention * 86400))" +%Y%m%dT%H%M%SZ)
removed=0
shopt -s nullglob dotglob
for f in "$dir"/*; do
  base=${f##*/}
  [[ -f $f && $base =~ $QT_BACKUP_NAME_RE ]] || continue
  if [[ ${BASH_REMATCH[1]} < $cutoff ]]; then
    rm -f -- "$f"
    removed=$((removed + 1))
    echo "backup: retention: removed $base"
  fi
done
echo "backup: retention $retention days: removed $removed files older than $cutoff"
