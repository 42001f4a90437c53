# shellcheck shell=bash disable=SC2034
# Sourced by backup.sh and restore.sh (bash): the connection and the manifest
# format they share. docs/operations.md, "PostgreSQL backups and restore".
#
# The connection comes from QT_PG_MIGRATION_URL (the trade store's direct URL,
# set when DATABASE_URL is PgBouncer: pg_dump and pg_restore need a session),
# else DATABASE_URL (postgres:// or postgresql://, the trade store's setting),
# or, without either, from the standard PG* variables
# (PGHOST, PGPORT, PGUSER, PGPASSWORD or ~/.pgpass, PGDATABASE required).
# The password never reaches an argument list or the output: it is taken out
# of the URL into PGPASSWORD (inherited by psql, pg_dump and pg_restore only)
# and the programs get the URL without it.

# The manifest's first line and format version; restore.sh refuses others.
QT_MANIFEST_HEADER='# quantum-trader PostgreSQL backup manifest'
QT_MANIFEST_FORMAT=1
# Backup files: trade-store-YYYYMMDDTHHMMSSZ.dump and .manifest (UTC).
QT_BACKUP_PREFIX=trade-store
QT_BACKUP_NAME_RE='^\.?trade-store-([0-9]{8}T[0-9]{6}Z)\.(dump|manifest)(\.partial)?$'

# Every table of the database (not the system schemas) with its row count, one
# "schema.table<TAB>count" line each, names quoted as SQL identifiers.
QT_COUNT_SQL="SELECT format('%I.%I', n.nspname, c.relname),
  (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname),
    false, true, '')))[1]::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY 1;"

qt_die() { # CODE MESSAGE: prints "SCRIPT: MESSAGE" on stderr and exits with CODE.
  echo "${0##*/}: $2" >&2
  exit "$1"
}

qt_now_ms() { date +%s%3N; }

# Percent-decodes $1 (the password part of a URL); a literal backslash stays one.
qt_urldecode() {
  local s=${1//\\/\\\\}
  printf '%b' "${s//%/\\x}"
}

# Sets QT_PG_DBNAME, what psql, pg_dump and pg_restore get as --dbname (a URL
# without its password, or PGDATABASE), and exports PGPASSWORD from the URL.
qt_pg_connection() {
  export PGAPPNAME=${PGAPPNAME:-qt-${0##*/}}
  export PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-10}
  local key=DATABASE_URL
  [[ -n ${QT_PG_MIGRATION_URL:-} ]] && key=QT_PG_MIGRATION_URL
  if [[ -n ${!key:-} ]]; then
    local url=${!key}
    [[ $url =~ ^postgres(ql)?:// ]] || qt_die 2 "$key must be a postgres:// or postgresql:// URL"
    local scheme=${url%%://*}://
    local rest=${url#*://}
    local authority=${rest%%[/?#]*}
    local tail=${rest:${#authority}}
    if [[ $tail =~ [?\&]password= ]]; then
      qt_die 2 "$key: give the password in the user part (postgres://user:password@host/db), not as password="
    fi
    if [[ $authority == *@* ]]; then
      local userinfo=${authority%@*}
      local hosts=${authority##*@}
      if [[ $userinfo == *:* ]]; then
        PGPASSWORD=$(qt_urldecode "${userinfo#*:}")
        export PGPASSWORD
        userinfo=${userinfo%%:*}
      fi
      authority="$userinfo@$hosts"
    fi
    QT_PG_DBNAME="$scheme$authority$tail"
  elif [[ -n ${PGDATABASE:-} ]]; then
    QT_PG_DBNAME=$PGDATABASE
  else
    qt_die 2 "set DATABASE_URL, or PGDATABASE and the other PG* variables"
  fi
}

# psql with no ~/.psqlrc, unaligned tab-separated rows without headers, stopping at the first error.
qt_psql() { psql -X -q -A -t -F $'\t' -v ON_ERROR_STOP=1 --dbname="$QT_PG_DBNAME" "$@"; }
