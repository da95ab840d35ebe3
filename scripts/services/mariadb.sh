#!/usr/bin/env bash
# A throw-away MariaDB server for tests.
#
#   scripts/services/mariadb.sh start [ENV_FILE]   # prints URL=… PID=… PIDFILE=…
#   scripts/services/mariadb.sh stop PIDFILE
#
# start installs MariaDB with apt-get when its binaries are missing, initialises a data
# directory under a new temp directory, starts the server on a free 127.0.0.1 port (with
# --user=mysql when run as root), waits until it answers and creates the database
# `roost_test` and the user `roost`/`roost`. With ENV_FILE, the URL=/PID=/PIDFILE= lines are
# also appended there. stop stops that server by PID and removes its directory.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
. "$here/common.sh"

find_bin() {
  local name
  for name in "$@"; do
    for dir in /usr/sbin /usr/bin /usr/local/bin /usr/local/sbin; do
      if [ -x "$dir/$name" ]; then echo "$dir/$name"; return; fi
    done
  done
}

start() {
  local envfile="${1:-}"
  local server install client
  server="$(find_bin mariadbd mysqld)"
  if [ -z "$server" ]; then
    apt_install mariadb-server mariadb-client
    server="$(find_bin mariadbd mysqld)"
  fi
  install="$(find_bin mariadb-install-db mysql_install_db)"
  client="$(find_bin mariadb mysql)"
  [ -n "$server" ] && [ -n "$install" ] && [ -n "$client" ] \
    || { echo "MariaDB binaries not found after install" >&2; exit 1; }
  local dir port user
  dir="$(mktemp -d "${TMPDIR:-/tmp}/roost-mariadb.XXXXXX")"
  user="$(id -un)"
  if [ "$(id -u)" -eq 0 ]; then
    user=mysql
    id mysql >/dev/null 2>&1 || useradd --system --no-create-home mysql
    chown "$user" "$dir"
  fi
  port="$(free_port)"
  "$install" --no-defaults --datadir="$dir/data" --user="$user" \
    --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1 \
    || { cat "$dir/install.log" >&2; exit 1; }
  "$server" --no-defaults --datadir="$dir/data" --user="$user" \
    --bind-address=127.0.0.1 --port="$port" --socket="$dir/mariadb.sock" \
    --pid-file="$dir/mariadb.pid" --log-error="$dir/error.log" --skip-log-bin \
    --innodb-flush-log-at-trx-commit=0 --innodb-buffer-pool-size=64M \
    >/dev/null 2>&1 &
  local pid=$!
  printf '%s\n%s\n' "$pid" "$dir" > "$dir/roost-service.pid"
  local ready=""
  for _ in $(seq 1 300); do
    if "$client" --no-defaults -uroot --socket="$dir/mariadb.sock" -e 'SELECT 1' >/dev/null 2>&1; then
      ready=1; break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$ready" ]; then
    cat "$dir/error.log" >&2 || true
    stop_pidfile "$dir/roost-service.pid" >/dev/null 2>&1 || true
    echo "MariaDB did not start" >&2
    exit 1
  fi
  "$client" --no-defaults -uroot --socket="$dir/mariadb.sock" -e "
    CREATE DATABASE roost_test CHARACTER SET utf8mb4;
    CREATE USER 'roost'@'127.0.0.1' IDENTIFIED BY 'roost';
    GRANT ALL ON roost_test.* TO 'roost'@'127.0.0.1';"
  emit "$envfile" "URL=mysql://roost:roost@127.0.0.1:$port/roost_test" "PID=$pid" \
    "PIDFILE=$dir/roost-service.pid"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) [ -n "${2:-}" ] || { echo "usage: $0 stop PIDFILE" >&2; exit 2; }; stop_pidfile "$2" TERM ;;
  *) echo "usage: $0 start [ENV_FILE] | stop PIDFILE" >&2; exit 2 ;;
esac
