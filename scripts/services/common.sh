# Helpers shared by postgres.sh, mariadb.sh and redis.sh (sourced, not run).

# A free TCP port on 127.0.0.1 (the kernel picks it; a tiny race with other starters is
# accepted: the server start fails loudly if the port was taken meanwhile).
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    return
  fi
  local port
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  echo "no free port found" >&2
  return 1
}

# apt-get install, running `apt-get update` once per process first.
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$* missing and apt-get is not available: install it by hand" >&2
    return 1
  fi
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  if [ -z "${ROOST_APT_UPDATED:-}" ]; then
    $sudo apt-get update -qq >&2
    export ROOST_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >&2
}

# Runs a command as `$1` when we are root, else as ourselves.
as_user() {
  local user="$1"; shift
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$user" -- "$@"
  else
    "$@"
  fi
}

# Stops the process whose PID is the first line of a pid file, waits for it to exit (killing
# it after 20 s), then removes the service's temp directory named on the file's second line.
stop_pidfile() {
  local pidfile="$1" signal="${2:-TERM}"
  if [ ! -f "$pidfile" ]; then
    echo "no pid file $pidfile" >&2
    return 1
  fi
  local pid dir
  pid="$(sed -n 1p "$pidfile")"
  dir="$(sed -n 2p "$pidfile")"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "-$signal" "$pid" 2>/dev/null || true
    for _ in $(seq 1 200); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "PID $pid did not stop in 20 s: killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  case "$dir" in
    /tmp/roost-*|"${TMPDIR:-/tmp}"/roost-*) rm -rf "$dir" ;;
  esac
}

# Prints KEY=VALUE lines and appends them to the env file when one was given.
emit() {
  local envfile="$1"; shift
  for line in "$@"; do
    echo "$line"
    if [ -n "$envfile" ]; then echo "$line" >> "$envfile"; fi
  done
}
