#!/bin/sh
# Renders one of the Sentinel set's config files (master.conf, replica.conf,
# sentinel.conf) for a host: replaces __REDIS_PASSWORD__ with the password
# read from REDIS_PASSWORD_FILE and __REDIS_MASTER_HOST__ with
# REDIS_MASTER_HOST, and writes OUTPUT readable by its owner only.
#
#   REDIS_PASSWORD_FILE=/etc/quantum-trader/redis-password REDIS_MASTER_HOST=10.0.0.11 \
#     infra/redis/render.sh infra/redis/master.conf /etc/redis/qt-master.conf
#
# The password is 16 or more of A-Z a-z 0-9 _ - (e.g. `openssl rand -hex 32`):
# it is written unquoted into the config and into REDIS_URL, where those
# characters need no escaping. docs/operations.md, "Redis Sentinel and failover".
set -eu

if [ "$#" -ne 2 ]; then
  echo "usage: REDIS_PASSWORD_FILE=FILE REDIS_MASTER_HOST=HOST $0 TEMPLATE OUTPUT" >&2
  exit 2
fi
template=$1
output=$2
: "${REDIS_PASSWORD_FILE:?REDIS_PASSWORD_FILE must name the file holding the password}"
: "${REDIS_MASTER_HOST:?REDIS_MASTER_HOST must be the master address (host name or IP)}"

password=$(tr -d '\r\n' < "$REDIS_PASSWORD_FILE")
if ! printf '%s' "$password" | grep -Eq '^[A-Za-z0-9_-]{16,}$'; then
  echo "$0: the password in $REDIS_PASSWORD_FILE must be 16 or more of A-Z a-z 0-9 _ -" >&2
  exit 2
fi
if ! printf '%s' "$REDIS_MASTER_HOST" | grep -Eq '^[A-Za-z0-9.:-]+$'; then
  echo "$0: REDIS_MASTER_HOST must be a host name or an IP address" >&2
  exit 2
fi

umask 077
# Comment lines are left as they are: they name the placeholders.
sed -e "/^[[:space:]]*#/!s|__REDIS_PASSWORD__|$password|g" \
  -e "/^[[:space:]]*#/!s|__REDIS_MASTER_HOST__|$REDIS_MASTER_HOST|g" "$template" > "$output"
if grep -v '^[[:space:]]*#' "$output" | grep -q '__REDIS_[A-Z_]*__'; then
  echo "$0: $output still holds a placeholder" >&2
  exit 1
fi
