#!/usr/bin/env bash
# Gateway mode against clients directly on the Node app (docs/gateway.md; BENCHMARKS.md
# "Gateway mode"): the reference chat app (bench/reference/chat.js) with N roost-bench
# clients connected to it directly ("direct"), then the same app with the feathers-roost
# plugin and a release Roost in plugin mode in front of it holding the N clients
# ("gateway"). Every figure of the app is the Node process's (--server-pid); Roost's RSS
# and CPU are printed beside them.
#
#   bench/gateway.sh                                   # N = 10,000 (≈ 5 min on 2 cores)
#   GW_CLIENTS=2000 GW_RATES=1,4 bench/gateway.sh      # smaller
#
# For each target, on fresh processes each time:
#   hold + calls: `roost-bench connect` opens N logged-in Primus connections (JWT login
#     through the app) and holds them: the app's RSS per client and idle CPU. While they
#     are held, `roost-bench rpc` makes GW_RPC_CONNECTIONS more connections call
#     `messages.get` back to back for GW_RPC_SECS: end-to-end call p50/p99 and app CPU.
#   events: `roost-bench fanout` with N subscribers joined to one room through the app's
#     own `messages.join`, one publisher creating messages at each rate of GW_RATES:
#     end-to-end event p50/p99 (create sent → event received at each subscriber), app CPU.
# Then `roost-bench report direct.jsonl gateway.jsonl` (ratios gateway/direct) and the
# processes' RSS/CPU lines. Results in $GW_OUT. Builds roost and roost-bench (release)
# unless GW_NO_BUILD=1. The generator runs on the same machine: on 2 cores its CPU competes
# with the servers', as in compare.sh (GW_PIN="0 1" pins the servers to CPU 0, the
# generator to CPU 1).
set -euo pipefail
cd "$(dirname "$0")/.."

: "${GW_OUT:=target/bench/gateway-$(date +%Y%m%d-%H%M%S)}"
: "${GW_TARGETS:=direct gateway}"
: "${GW_CLIENTS:=10000}"
: "${GW_CONCURRENCY:=256}"
: "${GW_RPC_CONNECTIONS:=50}"
: "${GW_RPC_SECS:=10}"
: "${GW_RATES:=1,4,16}"
: "${GW_STEP_SECS:=5}"
: "${GW_DRAIN_SECS:=5}"
: "${GW_PING_MS:=10000}"
: "${GW_PIN:=}"
: "${GW_USER:=bench@example.com:bench-password}"
: "${ROOST_BIN:=target/release/roost}"
BENCH=target/release/roost-bench
SECRET=bench-gateway-secret-0123456789

SERVER_PIN=()
BENCH_PIN=()
if [ -n "$GW_PIN" ]; then
  read -r server_cpu bench_cpu <<<"$GW_PIN"
  SERVER_PIN=(taskset -c "$server_cpu")
  BENCH_PIN=(taskset -c "${bench_cpu:?GW_PIN needs two CPU lists, e.g. \"0 1\"}")
fi

mkdir -p "$GW_OUT"
# 10,000 sockets in one Node process need more than the usual 1,024 descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "${GW_NO_BUILD:-0}" != 1 ]; then
  echo "== building (release)"
  cargo build --release -p roost-bench -p roost --bins
fi
if [ ! -d bench/reference/node_modules ] ||
  [ "$(cat bench/reference/node_modules/.roost-lock-sha256 2>/dev/null)" != "$(sha256sum bench/reference/package-lock.json | cut -d' ' -f1)" ]; then
  (cd bench/reference && npm ci --no-audit --no-fund --loglevel=error)
  sha256sum bench/reference/package-lock.json | cut -d' ' -f1 >bench/reference/node_modules/.roost-lock-sha256
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

APP_PID= ROOST_PID= PORT=
stop_pid() {
  local pid=$1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
stop_all() {
  stop_pid "$ROOST_PID"
  stop_pid "$APP_PID"
  ROOST_PID= APP_PID=
}
trap stop_all EXIT
trap 'exit 130' INT TERM

wait_healthy() {
  for _ in $(seq 300); do
    curl -sf "$1/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "$1 did not come up" >&2
  exit 1
}

# start TARGET NAME: the app (and Roost for `gateway`); PORT = where clients connect.
start() {
  local app_port log="$GW_OUT/$1-$2"
  app_port=$(free_port)
  if [ "$1" = gateway ]; then
    PORT=$(free_port)
    ROOST_GATEWAY_URL="http://127.0.0.1:$PORT" ROOST_GATEWAY_SECRET=$SECRET \
      "${SERVER_PIN[@]}" node bench/reference/chat.js --port "$app_port" \
      --ping-interval-ms "$GW_PING_MS" >"$log-app.log" 2>&1 &
    APP_PID=$!
    wait_healthy "http://127.0.0.1:$app_port"
    local data
    data=$(mktemp -d "$GW_OUT/roost-data.XXXXXX")
    ROOST_GATEWAY__UPSTREAM="http://127.0.0.1:$app_port" ROOST_GATEWAY__MODE=plugin \
      ROOST_GATEWAY__SECRET=$SECRET ROOST_PRIMUS__PING_INTERVAL_MS=$GW_PING_MS ROOST_LOG__LEVEL=warn \
      "${SERVER_PIN[@]}" "$ROOST_BIN" serve --config interop/config/gateway.toml \
      --port "$PORT" --data-dir "$data" >"$log-roost.log" 2>&1 &
    ROOST_PID=$!
    wait_healthy "http://127.0.0.1:$PORT"
  else
    PORT=$app_port
    "${SERVER_PIN[@]}" node bench/reference/chat.js --port "$app_port" \
      --ping-interval-ms "$GW_PING_MS" >"$log-app.log" 2>&1 &
    APP_PID=$!
    wait_healthy "http://127.0.0.1:$PORT"
  fi
}

# proc PID NAME: one line with the process's RSS (MiB) and CPU seconds so far.
proc() {
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 0
  local rss ticks hz
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status")
  hz=$(getconf CLK_TCK)
  ticks=$(awk '{print $14 + $15}' "/proc/$1/stat")
  awk -v n="$2" -v r="$rss" -v t="$ticks" -v hz="$hz" \
    'BEGIN { printf "  %-6s RSS %.1f MiB, CPU %.2f s since start\n", n, r / 1024, t / hz }'
}

run_bench() {
  local target=$1
  shift
  "${BENCH_PIN[@]}" "$BENCH" --server "127.0.0.1:$PORT" --server-pid "$APP_PID" --label "$target" \
    --json-out "$GW_OUT/$target.jsonl" --signup "$GW_USER" "$@"
}

for target in $GW_TARGETS; do
  echo "== $target: $GW_CLIENTS clients held, calls meanwhile"
  start "$target" hold
  hold=$((GW_RPC_SECS + 20))
  run_bench "$target" --variant held connect --connections "$GW_CLIENTS" \
    --concurrency "$GW_CONCURRENCY" --hold-secs "$hold" >"$GW_OUT/$target-connect.txt" 2>&1 &
  connect_pid=$!
  # The calls start once every client is connected (established sockets on the port).
  for _ in $(seq 1200); do
    n=$(ss -Htn state established "( sport = :$PORT )" | wc -l)
    [ "$n" -ge "$GW_CLIENTS" ] && break
    kill -0 "$connect_pid" 2>/dev/null || break
    sleep 0.25
  done
  run_bench "$target" --variant "get-with-$GW_CLIENTS-held" rpc --method get \
    --connections "$GW_RPC_CONNECTIONS" --secs "$GW_RPC_SECS" | tee "$GW_OUT/$target-rpc.txt"
  { echo "$target, $GW_CLIENTS clients held, after the calls:"; proc "$APP_PID" app; proc "$ROOST_PID" roost; } |
    tee -a "$GW_OUT/procs.txt"
  wait "$connect_pid" || echo "!! $target connect failed" >&2
  cat "$GW_OUT/$target-connect.txt"
  stop_all

  echo "== $target: fan-out to $GW_CLIENTS subscribers"
  start "$target" fanout
  run_bench "$target" fanout --subscribers "$GW_CLIENTS" --concurrency "$GW_CONCURRENCY" \
    --rates "$GW_RATES" --step-secs "$GW_STEP_SECS" --drain-secs "$GW_DRAIN_SECS" --keep-going |
    tee "$GW_OUT/$target-fanout.txt"
  { echo "$target, after the fan-out:"; proc "$APP_PID" app; proc "$ROOST_PID" roost; } | tee -a "$GW_OUT/procs.txt"
  stop_all
done

set -- $GW_TARGETS
if [ $# -ge 2 ]; then
  echo "== $2 vs $1 ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
  "$BENCH" report "$GW_OUT/$1.jsonl" "$GW_OUT/$2.jsonl" | tee "$GW_OUT/report.md"
fi
cat "$GW_OUT/procs.txt"
