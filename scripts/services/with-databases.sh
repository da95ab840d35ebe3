#!/usr/bin/env bash
# Runs a command with throw-away PostgreSQL, MariaDB and Redis servers:
#
#   scripts/services/with-databases.sh cargo test -p roost-sql
#
# Starts all three (see postgres.sh / mariadb.sh / redis.sh), exports ROOST_TEST_POSTGRES_URL,
# ROOST_TEST_MYSQL_URL and ROOST_TEST_REDIS_URL, runs the command, then stops the servers by
# PID — also when the command fails or the script is interrupted — and exits with the
# command's status.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS…]" >&2; exit 2; }

pg_env="$(mktemp "${TMPDIR:-/tmp}/roost-pg-env.XXXXXX")"
my_env="$(mktemp "${TMPDIR:-/tmp}/roost-mariadb-env.XXXXXX")"
redis_env="$(mktemp "${TMPDIR:-/tmp}/roost-redis-env.XXXXXX")"
cleanup() {
  local pidfile
  pidfile="$(sed -n 's/^PIDFILE=//p' "$pg_env" 2>/dev/null || true)"
  [ -n "$pidfile" ] && "$here/postgres.sh" stop "$pidfile" || true
  pidfile="$(sed -n 's/^PIDFILE=//p' "$my_env" 2>/dev/null || true)"
  [ -n "$pidfile" ] && "$here/mariadb.sh" stop "$pidfile" || true
  pidfile="$(sed -n 's/^PIDFILE=//p' "$redis_env" 2>/dev/null || true)"
  [ -n "$pidfile" ] && "$here/redis.sh" stop "$pidfile" || true
  rm -f "$pg_env" "$my_env" "$redis_env"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$here/postgres.sh" start "$pg_env" >/dev/null
"$here/mariadb.sh" start "$my_env" >/dev/null
"$here/redis.sh" start "$redis_env" >/dev/null
ROOST_TEST_POSTGRES_URL="$(sed -n 's/^URL=//p' "$pg_env")"
ROOST_TEST_MYSQL_URL="$(sed -n 's/^URL=//p' "$my_env")"
ROOST_TEST_REDIS_URL="$(sed -n 's/^URL=//p' "$redis_env")"
export ROOST_TEST_POSTGRES_URL ROOST_TEST_MYSQL_URL ROOST_TEST_REDIS_URL
echo "PostgreSQL: $ROOST_TEST_POSTGRES_URL" >&2
echo "MariaDB:    $ROOST_TEST_MYSQL_URL" >&2
echo "Redis:      $ROOST_TEST_REDIS_URL" >&2

status=0
"$@" || status=$?
exit "$status"
