#!/usr/bin/env bash
# Roost and the Node reference side by side: the same roost-bench scenarios with the same
# parameters against each server in turn, a fresh server (on a free 127.0.0.1 port) for each
# scenario, then one table with ratios.
#
#   bench/compare.sh                 # everything, sized for a 2-core machine (≤ ~10 min)
#   BENCH_TARGETS=roost BENCH_SCENARIOS="connect rpc" bench/compare.sh
#   BENCH_TARGETS=roost BENCH_SCENARIOS=signups bench/compare.sh   # opt-in, chat app, SQLite
#   BENCH_TRANSPORT=socketio BENCH_SCENARIOS="connect rpc fanout" bench/compare.sh
#
# Transport: BENCH_TRANSPORT=primus (default) or socketio (roost-bench --transport): every
# connection of every scenario speaks that protocol — Primus + primus-emitter at /primus, or
# Socket.IO v5 over an Engine.IO 4 websocket at /socket.io/ (EIO=4&transport=websocket, the
# namespace connect `40`, calls `42<id>[…]`, acks `43<id>[…]`, the JWT login as the Feathers
# socket client sends it). Both servers serve both on the same port; Socket.IO keeps each
# server's default heartbeat (25 s; BENCH_PING_MS is Primus's). The floor always speaks Primus.
#
# Apps: when bench/reference/chat.js exists and `roost config --config bench/roost-bench.toml`
# accepts the file (the default chat app is in this build), both servers run the chat app and
# every connection signs up / logs in (JWT over the socket). Otherwise both run the real-time
# app of interop/REALTIME-APP.md (target/release/examples/interop and
# bench/reference/realtime.js), unauthenticated. BENCH_APP=realtime|chat forces one.
#
# Every parameter is an environment variable (defaults below). Results: $BENCH_OUT/*.jsonl,
# server logs $BENCH_OUT/*.log, the table $BENCH_OUT/report.md.
#
#   BENCH_ROOST_BIN=/path/to/roost   # another roost build (a "before" binary), same scenarios
#   BENCH_PIN="0 1"                  # taskset: server on CPU 0, generator on CPU 1 (empty: off)
#
# The floor: whenever fanout runs, `roost-bench floor` runs once too (before the servers), with
# the same subscribers and message size: the same client fleet fed by a one-thread sender
# inside the generator (frames encoded once, non-blocking writes), the machine's limit for a
# burst. The table "fan-out against the floor" puts each server's p50/p99 beside it.
#   BENCH_FLOOR_RATES=1,8            # the floor's steps (default 1: the 1 msg/s burst)
#   BENCH_FLOOR=0                    # skip it
#   BENCH_PERF_OUT=dir               # `perf record -g` each server while it runs (needs perf):
#                                    # dir/<target>-<scenario>.perf.data
set -euo pipefail
cd "$(dirname "$0")/.."

: "${BENCH_OUT:=target/bench/$(date +%Y%m%d-%H%M%S)}"
: "${BENCH_TARGETS:=roost reference}"
: "${BENCH_SCENARIOS:=connect rpc fanout churn}"
: "${BENCH_PING_MS:=10000}"
: "${BENCH_THREADS:=}"
: "${BENCH_ROOST_BIN:=target/release/roost}"
: "${BENCH_PIN:=}"
: "${BENCH_TRANSPORT:=primus}"
# connect
: "${BENCH_CONNECTIONS:=10000}"
: "${BENCH_CONNECT_CONCURRENCY:=256}"
: "${BENCH_HOLD_SECS:=10}"
# rpc (methods run one after the other, each on a fresh server)
: "${BENCH_RPC_METHODS:=get create}"
: "${BENCH_RPC_CONNECTIONS:=50}"
: "${BENCH_RPC_SECS:=10}"
# fanout
: "${BENCH_SUBSCRIBERS:=10000}"
: "${BENCH_RATES:=1,2,4,8,16,32,48,64,96,128}"
: "${BENCH_STEP_SECS:=5}"
: "${BENCH_DRAIN_SECS:=5}"
: "${BENCH_MAX_P99_MS:=50}"
: "${BENCH_FLOOR:=1}"
: "${BENCH_FLOOR_RATES:=1}"
# signups (opt-in; chat app): message creates from BENCH_SIGNUP_WRITERS connections, first
# alone, then while BENCH_SIGNUPS more connections sign up new users back to back (a bcrypt
# hash each); Roost keeps its records in BENCH_SIGNUP_STORAGE (in a fresh data directory).
: "${BENCH_SIGNUP_WRITERS:=50}"
: "${BENCH_SIGNUPS:=50}"
: "${BENCH_SIGNUP_SECS:=10}"
: "${BENCH_SIGNUP_STORAGE:=sqlite://roost.db}"
# churn
: "${BENCH_CHURN_STABLE:=1000}"
: "${BENCH_CHURN_CHURNERS:=64}"
: "${BENCH_CHURN_RATE:=20}"
: "${BENCH_CHURN_SECS:=20}"
: "${BENCH_SOURCES:=4}"
: "${BENCH_USER:=bench@example.com:bench-password}"

mkdir -p "$BENCH_OUT"
BENCH=target/release/roost-bench
SERVER_PIN=()
BENCH_PIN_CMD=()
if [ -n "$BENCH_PIN" ]; then
  read -r server_cpu bench_cpu <<<"$BENCH_PIN"
  SERVER_PIN=(taskset -c "$server_cpu")
  BENCH_PIN_CMD=(taskset -c "${bench_cpu:?BENCH_PIN needs two CPU lists, e.g. \"0 1\"}")
fi

echo "== building (release)"
cargo build --release -p roost-bench -p roost --bins --example interop
# (Re)install when the lock file is newer than the installed tree (npm writes
# node_modules/.package-lock.json on every install).
# Only when the reference is benchmarked.
if [[ " $BENCH_TARGETS " == *" reference "* ]] && {
  [ ! -f bench/reference/node_modules/.package-lock.json ] ||
    [ bench/reference/package-lock.json -nt bench/reference/node_modules/.package-lock.json ]
}; then
  (cd bench/reference && npm ci --no-audit --no-fund)
fi

if [ -z "${BENCH_APP:-}" ]; then
  if [ -f bench/reference/chat.js ] &&
    target/release/roost config --config bench/roost-bench.toml >/dev/null 2>&1; then
    BENCH_APP=chat
  else
    BENCH_APP=realtime
  fi
fi
AUTH=()
if [ "$BENCH_APP" = chat ]; then AUTH=(--signup "$BENCH_USER"); fi
echo "== app: $BENCH_APP; transport: $BENCH_TRANSPORT; results in $BENCH_OUT"

SERVER_PID=
stop_server() {
  if [ -n "${PERF_PID:-}" ]; then
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true
    PERF_PID=
  fi
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}
trap stop_server EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_server TARGET LOGNAME: sets PORT and SERVER_PID, waits for /healthz.
start_server() {
  PORT=$(free_port)
  local log="$BENCH_OUT/$1-$2.log"
  case "$1/$BENCH_APP" in
    roost/realtime)
      RUST_LOG=warn "${SERVER_PIN[@]}" target/release/examples/interop --port "$PORT" \
        --ping-interval-ms "$BENCH_PING_MS" >"$log" 2>&1 &
      ;;
    roost/chat)
      local data
      data=$(mktemp -d "$BENCH_OUT/roost-data.XXXXXX")
      ROOST_STORAGE__URL="${STORAGE_URL:-memory}" ROOST_PRIMUS__PING_INTERVAL_MS=$BENCH_PING_MS \
        "${SERVER_PIN[@]}" "$BENCH_ROOST_BIN" serve \
        --config bench/roost-bench.toml --port "$PORT" --data-dir "$data" >"$log" 2>&1 &
      ;;
    reference/realtime)
      "${SERVER_PIN[@]}" node bench/reference/realtime.js --port "$PORT" --ping-interval-ms "$BENCH_PING_MS" >"$log" 2>&1 &
      ;;
    reference/chat)
      "${SERVER_PIN[@]}" node bench/reference/chat.js --port "$PORT" --ping-interval-ms "$BENCH_PING_MS" >"$log" 2>&1 &
      ;;
    *) echo "unknown target $1" >&2; exit 2 ;;
  esac
  SERVER_PID=$!
  PERF_PID=
  if [ -n "${BENCH_PERF_OUT:-}" ]; then
    mkdir -p "$BENCH_PERF_OUT"
    perf record -q -F 499 -g -p "$SERVER_PID" -o "$BENCH_PERF_OUT/$1-$2.perf.data" \
      >"$BENCH_OUT/perf-$1-$2.log" 2>&1 &
    PERF_PID=$!
  fi
  for _ in $(seq 200); do
    if curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "$1 did not come up; see $log" >&2
  exit 1
}

# bench TARGET VARIANT SCENARIO ARGS...: one scenario on a fresh server.
bench() {
  local target=$1 variant=$2
  shift 2
  start_server "$target" "$1${variant:+-$variant}"
  echo "== $target: $* (pid $SERVER_PID, port $PORT)"
  local threads=()
  if [ -n "$BENCH_THREADS" ]; then threads=(--threads "$BENCH_THREADS"); fi
  "${BENCH_PIN_CMD[@]}" "$BENCH" --server "127.0.0.1:$PORT" --server-pid "$SERVER_PID" --label "$target" \
    --variant "$variant" --json-out "$BENCH_OUT/$target.jsonl" --sources "$BENCH_SOURCES" \
    --transport "$BENCH_TRANSPORT" \
    "${threads[@]}" "${AUTH[@]}" "$@" || echo "!! $target $1 failed" >&2
  stop_server
}

if [ "$BENCH_FLOOR" = 1 ] && [[ " $BENCH_SCENARIOS " == *" fanout "* ]]; then
  echo "== floor: one-thread sender, $BENCH_SUBSCRIBERS sockets, rates $BENCH_FLOOR_RATES"
  "${BENCH_PIN_CMD[@]}" "$BENCH" --label floor --json-out "$BENCH_OUT/floor.jsonl" \
    ${BENCH_THREADS:+--threads "$BENCH_THREADS"} floor --subscribers "$BENCH_SUBSCRIBERS" \
    --rates "$BENCH_FLOOR_RATES" --step-secs "$BENCH_STEP_SECS" --drain-secs "$BENCH_DRAIN_SECS" ||
    echo "!! floor failed" >&2
fi

for target in $BENCH_TARGETS; do
  for scenario in $BENCH_SCENARIOS; do
    case $scenario in
      connect)
        bench "$target" "" connect --connections "$BENCH_CONNECTIONS" \
          --concurrency "$BENCH_CONNECT_CONCURRENCY" --hold-secs "$BENCH_HOLD_SECS"
        ;;
      rpc)
        for method in $BENCH_RPC_METHODS; do
          bench "$target" "$method" rpc --method "$method" \
            --connections "$BENCH_RPC_CONNECTIONS" --secs "$BENCH_RPC_SECS"
        done
        ;;
      fanout)
        bench "$target" "" fanout --subscribers "$BENCH_SUBSCRIBERS" --rates "$BENCH_RATES" \
          --step-secs "$BENCH_STEP_SECS" --drain-secs "$BENCH_DRAIN_SECS" \
          --max-p99-ms "$BENCH_MAX_P99_MS"
        ;;
      signups)
        STORAGE_URL=$BENCH_SIGNUP_STORAGE
        for signups in 0 "$BENCH_SIGNUPS"; do
          bench "$target" "signups-$signups" rpc --method create \
            --connections "$BENCH_SIGNUP_WRITERS" --signups "$signups" --secs "$BENCH_SIGNUP_SECS"
        done
        STORAGE_URL=
        ;;
      churn)
        bench "$target" "" churn --stable "$BENCH_CHURN_STABLE" \
          --churners "$BENCH_CHURN_CHURNERS" --rate "$BENCH_CHURN_RATE" --secs "$BENCH_CHURN_SECS"
        ;;
      *) echo "unknown scenario $scenario" >&2; exit 2 ;;
    esac
  done
done

set -- $BENCH_TARGETS
if [ $# -ge 2 ] && [ -f "$BENCH_OUT/$1.jsonl" ] && [ -f "$BENCH_OUT/$2.jsonl" ]; then
  echo "== $1 vs $2 ($BENCH_APP app, $BENCH_TRANSPORT, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
  "$BENCH" report "$BENCH_OUT/$1.jsonl" "$BENCH_OUT/$2.jsonl" | tee "$BENCH_OUT/report.md"
fi

# Fan-out against the floor: each server's fanout step at the floor's first rate beside it.
if [ -f "$BENCH_OUT/floor.jsonl" ]; then
  echo "== fan-out against the floor ($BENCH_SUBSCRIBERS subscribers, load average $(cut -d' ' -f1-3 /proc/loadavg))"
  python3 - "$BENCH_OUT" $BENCH_TARGETS <<'PY' | tee "$BENCH_OUT/floor.md"
import json, sys, os
out, targets = sys.argv[1], sys.argv[2:]
def last(path, scenario):
    row = None
    if os.path.exists(path):
        for line in open(path):
            try:
                run = json.loads(line)
            except ValueError:
                continue
            if run.get("scenario") == scenario:
                row = run["results"]
    return row
floor = last(f"{out}/floor.jsonl", "floor")
if not floor or not floor.get("steps"):
    sys.exit("no floor result")
f = floor["steps"][0]
rate = f["rate"]
print(f"| at {rate:g} msg/s | p50 ms | p99 ms | p99 / floor p99 | server µs per delivery |")
print("|---|---:|---:|---:|---:|")
print(f"| floor (one thread, pre-encoded, non-blocking) | {f['lat_p50_ms']} | {f['lat_p99_ms']} | 1.00 | {f['sender_us_per_delivery']} (sender thread) |")
for t in targets:
    r = last(f"{out}/{t}.jsonl", "fanout")
    steps = [s for s in (r or {}).get("steps", []) if s.get("rate") == rate]
    if not steps:
        continue
    s = steps[0]
    ratio = s["lat_p99_ms"] / f["lat_p99_ms"] if f["lat_p99_ms"] else float("nan")
    per = s["server_cores"] / s["deliveries_per_sec"] * 1e6 if s.get("deliveries_per_sec") else float("nan")
    print(f"| {t} | {s['lat_p50_ms']} | {s['lat_p99_ms']} | {ratio:.2f} | {per:.2f} (process) |")
PY
fi
