#!/usr/bin/env bash
# A throw-away PostgreSQL server for tests.
#
#   scripts/services/postgres.sh start [ENV_FILE]   # prints URL=… PID=… PIDFILE=…
#   scripts/services/postgres.sh stop PIDFILE
#   scripts/services/postgres.sh halt PIDFILE      # stop the server, keep its data and port
#   scripts/services/postgres.sh resume PIDFILE    # start a halted server again, same port
#
# start installs PostgreSQL with apt-get when its binaries are missing, initialises a data
# directory under a new temp directory, starts the server on a free 127.0.0.1 port (as the
# `postgres` user when run as root), waits until it accepts connections and creates the
# database `roost_test` owned by `roost` (trust authentication, local only). With ENV_FILE,
# the URL=/PID=/PIDFILE= lines are also appended there. stop stops that server by PID and
# removes its directory.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
. "$here/common.sh"

pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/postgres" ] && [ -x "$dir/initdb" ]; then echo "$dir"; fi
  done | sort -V | tail -1
}

# Starts the server of temp directory $1 as recorded in its roost-service.conf.
pg_start() {
  local dir="$1" bin user port
  bin="$(sed -n 1p "$dir/roost-service.conf")"
  user="$(sed -n 2p "$dir/roost-service.conf")"
  port="$(sed -n 3p "$dir/roost-service.conf")"
  as_user "$user" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
}

# halt/resume PIDFILE: for outage tests (the pid file's first line follows the new server).
pg_halt() {
  local dir bin user
  dir="$(sed -n 2p "$1")"
  bin="$(sed -n 1p "$dir/roost-service.conf")"
  user="$(sed -n 2p "$dir/roost-service.conf")"
  as_user "$user" "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
}
pg_resume() {
  local dir
  dir="$(sed -n 2p "$1")"
  pg_start "$dir"
  printf '%s\n%s\n' "$(head -1 "$dir/data/postmaster.pid")" "$dir" > "$1"
}

start() {
  local envfile="${1:-}"
  local bin
  bin="$(pg_bin)"
  if [ -z "$bin" ]; then
    apt_install postgresql
    bin="$(pg_bin)"
  fi
  [ -n "$bin" ] || { echo "PostgreSQL binaries not found after install" >&2; exit 1; }
  local dir port user
  dir="$(mktemp -d "${TMPDIR:-/tmp}/roost-pg.XXXXXX")"
  user="$(id -un)"
  if [ "$(id -u)" -eq 0 ]; then
    user=postgres
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown "$user" "$dir"
  fi
  chmod 700 "$dir"
  port="$(free_port)"
  as_user "$user" "$bin/initdb" -D "$dir/data" -U roost --auth=trust -E UTF8 --locale=C \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  printf '%s\n%s\n%s\n' "$bin" "$user" "$port" > "$dir/roost-service.conf"
  pg_start "$dir"
  local pid
  pid="$(head -1 "$dir/data/postmaster.pid")"
  printf '%s\n%s\n' "$pid" "$dir" > "$dir/roost-service.pid"
  as_user "$user" "$bin/createdb" -h 127.0.0.1 -p "$port" -U roost roost_test
  emit "$envfile" "URL=postgres://roost@127.0.0.1:$port/roost_test" "PID=$pid" \
    "PIDFILE=$dir/roost-service.pid"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  # SIGINT is PostgreSQL's "fast shutdown".
  stop) [ -n "${2:-}" ] || { echo "usage: $0 stop PIDFILE" >&2; exit 2; }; stop_pidfile "$2" INT ;;
  halt|resume) [ -n "${2:-}" ] || { echo "usage: $0 $1 PIDFILE" >&2; exit 2; }; "pg_$1" "$2" ;;
  *) echo "usage: $0 start [ENV_FILE] | stop PIDFILE | halt PIDFILE | resume PIDFILE" >&2; exit 2 ;;
esac
