#!/usr/bin/env bash
# A throw-away Redis server for tests.
#
#   scripts/services/redis.sh start [ENV_FILE]   # prints URL=… PID=… PIDFILE=…
#   scripts/services/redis.sh stop PIDFILE
#   scripts/services/redis.sh halt PIDFILE      # stop the server, keep its directory and port
#   scripts/services/redis.sh resume PIDFILE    # start a halted server again, same port
#
# start installs Debian's redis-server with apt-get when its binary is missing, starts it on a
# free 127.0.0.1 port with a new temp directory as its working directory (no persistence: no
# RDB snapshots, no AOF), and waits until it answers PING. With ENV_FILE, the URL=/PID=/PIDFILE=
# lines are also appended there. stop stops that server by PID and removes its directory.
# halt/resume are for outage tests: the pid file's first line follows the restarted server.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
. "$here/common.sh"

find_bin() {
  local name dir
  for name in "$@"; do
    for dir in /usr/bin /usr/sbin /usr/local/bin /usr/local/sbin; do
      if [ -x "$dir/$name" ]; then echo "$dir/$name"; return; fi
    done
  done
}

# Starts the server of temp directory $1 as recorded in its roost-service.conf, waits until it
# answers PING and writes its PID into the directory's roost-service.pid.
redis_start() {
  local dir="$1" server client port
  server="$(sed -n 1p "$dir/roost-service.conf")"
  client="$(sed -n 2p "$dir/roost-service.conf")"
  port="$(sed -n 3p "$dir/roost-service.conf")"
  # No config file: every setting is on the command line. `--save ""` and `--appendonly no`
  # keep nothing on disk; protected mode stays on (it only matters off loopback).
  "$server" --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly no \
    --daemonize no --logfile "$dir/redis.log" >/dev/null 2>&1 &
  local pid=$!
  printf '%s\n%s\n' "$pid" "$dir" > "$dir/roost-service.pid"
  for _ in $(seq 1 300); do
    if [ "$("$client" -h 127.0.0.1 -p "$port" PING 2>/dev/null || true)" = "PONG" ]; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$dir/redis.log" >&2 || true
  stop_pidfile "$dir/roost-service.pid" >/dev/null 2>&1 || true
  echo "redis-server did not start" >&2
  exit 1
}

redis_halt() {
  local pidfile="$1" pid
  pid="$(sed -n 1p "$pidfile")"
  [ -n "$pid" ] || { echo "no PID in $pidfile" >&2; exit 1; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "PID $pid did not stop in 20 s: killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
}

redis_resume() {
  local pidfile="$1" dir
  dir="$(sed -n 2p "$pidfile")"
  redis_start "$dir"
  [ "$pidfile" = "$dir/roost-service.pid" ] || cp "$dir/roost-service.pid" "$pidfile"
}

start() {
  local envfile="${1:-}"
  local server client
  server="$(find_bin redis-server)"
  client="$(find_bin redis-cli)"
  if [ -z "$server" ] || [ -z "$client" ]; then
    apt_install redis-server redis-tools
    server="$(find_bin redis-server)"
    client="$(find_bin redis-cli)"
  fi
  [ -n "$server" ] && [ -n "$client" ] \
    || { echo "redis-server/redis-cli not found after install" >&2; exit 1; }
  local dir port
  dir="$(mktemp -d "${TMPDIR:-/tmp}/roost-redis.XXXXXX")"
  chmod 700 "$dir"
  port="$(free_port)"
  printf '%s\n%s\n%s\n' "$server" "$client" "$port" > "$dir/roost-service.conf"
  redis_start "$dir"
  emit "$envfile" "URL=redis://127.0.0.1:$port" "PID=$(sed -n 1p "$dir/roost-service.pid")" \
    "PIDFILE=$dir/roost-service.pid"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) [ -n "${2:-}" ] || { echo "usage: $0 stop PIDFILE" >&2; exit 2; }; stop_pidfile "$2" TERM ;;
  halt|resume) [ -n "${2:-}" ] || { echo "usage: $0 $1 PIDFILE" >&2; exit 2; }; "redis_$1" "$2" ;;
  *) echo "usage: $0 start [ENV_FILE] | stop PIDFILE | halt PIDFILE | resume PIDFILE" >&2; exit 2 ;;
esac
