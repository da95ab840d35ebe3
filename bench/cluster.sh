#!/usr/bin/env bash
# The cluster fan-out bench (docs/cluster.md; results in BENCHMARKS.md, "Cluster"): subscribers
# on node B, the publisher on node A, every event crossing one Redis — next to the same fan-out
# on one node, and the Redis traffic each event costs.
#
#   bench/cluster.sh
#   BENCH_SUBSCRIBERS=2000 BENCH_RATES=1,8,32 bench/cluster.sh
#
# Variants, each on fresh servers (release build, the chat app of bench/roost-bench.toml with
# memory storage, every connection logged in, all subscribers in one room):
#   single          one `roost serve` without [cluster]: subscribers and publisher on it
#   cluster-local   one node with [cluster] on Redis: subscribers and publisher on it (what
#                   joining a cluster costs a node: it publishes each event and drops its echo)
#   cluster         two nodes with [cluster] on one Redis: subscribers on B, publisher on A
# Redis is a throw-away server of scripts/services/redis.sh (installed when missing). For the
# [cluster] variants, Redis's INFO before and after the run, and the nodes' roost_cluster_*
# counters, give per published event: PUBLISH commands, bytes into and out of Redis, messages
# each node received from Redis. The deltas cover the whole run (the subscribers' setup sends
# a handful of SUBSCRIBEs; the two INFO calls add a few kB out), so per-event figures are upper
# bounds that tighten with more events.
#
# Every parameter is an environment variable (defaults below). Results: $BENCH_OUT/*.jsonl (one
# roost-bench line per variant, plus one `redis` line per [cluster] variant), server logs
# $BENCH_OUT/*.log, a summary table $BENCH_OUT/cluster.md.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${BENCH_OUT:=target/bench/cluster-$(date +%Y%m%d-%H%M%S)}"
: "${BENCH_VARIANTS:=single cluster-local cluster}"
: "${BENCH_SUBSCRIBERS:=5000}"
: "${BENCH_RATES:=1,2,4,8,16,32,48,64,96}"
: "${BENCH_STEP_SECS:=5}"
: "${BENCH_DRAIN_SECS:=5}"
: "${BENCH_MAX_P99_MS:=50}"
: "${BENCH_PING_MS:=10000}"
: "${BENCH_SOURCES:=4}"
: "${BENCH_USER:=bench@example.com:bench-password}"
: "${BENCH_ROOST_BIN:=target/release/roost}"

mkdir -p "$BENCH_OUT"
BENCH=target/release/roost-bench
echo "== building (release)"
# One package at a time: built together, their dependencies' features are unified and every
# crate under both (tokio, sqlx, …) is built a second time.
cargo build --release -p roost --bin roost
cargo build --release -p roost-bench

REDIS_PIDFILE=
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  PIDS=()
  if [ -n "$REDIS_PIDFILE" ]; then scripts/services/redis.sh stop "$REDIS_PIDFILE" || true; fi
  REDIS_PIDFILE=
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_node LOGNAME [REDIS_URL NODE_ID]: one `roost serve` (with [cluster] when a Redis URL is
# given); sets PORT and NODE_PID, waits for /readyz (storage and broker connected).
start_node() {
  local log="$BENCH_OUT/$1.log" data
  data=$(mktemp -d "$BENCH_OUT/roost-data.XXXXXX")
  PORT=$(free_port)
  if [ -n "${2:-}" ]; then
    ROOST_CLUSTER__URL="$2" ROOST_CLUSTER__NODE_ID="$3" ROOST_CLUSTER__KEY_PREFIX=bench \
      ROOST_AUTH__SECRET=cluster-bench-secret-0123456789abcdef \
      ROOST_STORAGE__URL=memory ROOST_PRIMUS__PING_INTERVAL_MS=$BENCH_PING_MS \
      "$BENCH_ROOST_BIN" serve --config bench/roost-bench.toml --port "$PORT" --data-dir "$data" \
      >"$log" 2>&1 &
  else
    ROOST_STORAGE__URL=memory ROOST_PRIMUS__PING_INTERVAL_MS=$BENCH_PING_MS \
      "$BENCH_ROOST_BIN" serve --config bench/roost-bench.toml --port "$PORT" --data-dir "$data" \
      >"$log" 2>&1 &
  fi
  NODE_PID=$!
  PIDS+=("$NODE_PID")
  for _ in $(seq 300); do
    if curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then return 0; fi
    kill -0 "$NODE_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "node $1 did not become ready; see $log" >&2
  exit 1
}

start_redis() {
  local env
  env=$(mktemp "$BENCH_OUT/redis-env.XXXXXX")
  scripts/services/redis.sh start "$env" >/dev/null
  REDIS_URL=$(sed -n 's/^URL=//p' "$env")
  REDIS_PIDFILE=$(sed -n 's/^PIDFILE=//p' "$env")
  rm -f "$env"
}

# redis_info: "commands in_bytes out_bytes publish_calls" now.
redis_info() {
  local info
  info=$(redis-cli -u "$REDIS_URL" INFO all | tr -d '\r')
  printf '%s %s %s %s\n' \
    "$(sed -n 's/^total_commands_processed://p' <<<"$info")" \
    "$(sed -n 's/^total_net_input_bytes://p' <<<"$info")" \
    "$(sed -n 's/^total_net_output_bytes://p' <<<"$info")" \
    "$(sed -n 's/^cmdstat_publish:calls=\([0-9]*\),.*/\1/p' <<<"$info" | grep . || echo 0)"
}

# cluster_counter PORT NAME: roost_cluster_<NAME>_total of the node on PORT.
cluster_counter() {
  curl -sf "http://127.0.0.1:$1/metrics" | sed -n "s/^roost_cluster_$2_total //p" | grep . || echo 0
}

# fanout LABEL SUB_PORT SUB_PID [PUB_PORT PUB_PID]
fanout() {
  local label=$1 sub_port=$2 sub_pid=$3
  local publish=()
  if [ -n "${4:-}" ]; then publish=(--publish-server "127.0.0.1:$4" --publish-server-pid "$5"); fi
  echo "== $label: subscribers on :$sub_port${4:+, publisher on :$4}"
  "$BENCH" --server "127.0.0.1:$sub_port" --server-pid "$sub_pid" "${publish[@]}" \
    --label "$label" --json-out "$BENCH_OUT/$label.jsonl" --sources "$BENCH_SOURCES" \
    --signup "$BENCH_USER" fanout --subscribers "$BENCH_SUBSCRIBERS" --rates "$BENCH_RATES" \
    --step-secs "$BENCH_STEP_SECS" --drain-secs "$BENCH_DRAIN_SECS" --max-p99-ms "$BENCH_MAX_P99_MS"
}

# redis_line LABEL BEFORE AFTER PUB_PORT SUB_PORT: the Redis traffic of the run as one JSON line.
redis_line() {
  local label=$1 before=$2 after=$3 pub_port=$4 sub_port=$5 published
  published=$(tail -n 1 "$BENCH_OUT/$label.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["results"]["published"])')
  python3 - "$label" "$before" "$after" "$published" \
    "$(cluster_counter "$pub_port" published)" "$(cluster_counter "$pub_port" published_messages)" \
    "$(cluster_counter "$pub_port" received)" "$(cluster_counter "$pub_port" own)" \
    "$(cluster_counter "$sub_port" received)" "$(cluster_counter "$sub_port" delivered)" \
    "$(cluster_counter "$sub_port" gaps)" "$(cluster_counter "$sub_port" lost)" \
    "$(cluster_counter "$pub_port" publish_failed)" "$(cluster_counter "$pub_port" reconnects)" \
    "$(cluster_counter "$sub_port" reconnects)" <<'PY' | tee -a "$BENCH_OUT/$1.jsonl"
import json, sys
label, before, after, published = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), int(sys.argv[4])
(a_pub, a_msgs, a_recv, a_own, b_recv, b_deliv, b_gaps, b_lost, a_failed, a_reconn, b_reconn) = \
    map(int, sys.argv[5:16])
d = [int(x) - int(y) for x, y in zip(after, before)]
per = lambda v: round(v / published, 2) if published else None
print(json.dumps({
    "bench": "cluster-redis", "label": label, "events": published,
    "redis_commands": d[0], "redis_in_bytes": d[1], "redis_out_bytes": d[2], "redis_publish_calls": d[3],
    "per_event": {"redis_commands": per(d[0]), "publish_calls": per(d[3]),
                  "in_bytes": per(d[1]), "out_bytes": per(d[2]),
                  "publisher_node_received": per(a_recv), "subscriber_node_received": per(b_recv)},
    "publisher_node": {"published": a_pub, "published_messages": a_msgs, "publish_failed": a_failed,
                       "received": a_recv, "own": a_own, "reconnects": a_reconn},
    "subscriber_node": {"received": b_recv, "delivered": b_deliv, "gaps": b_gaps, "lost": b_lost,
                        "reconnects": b_reconn},
}))
PY
}

for variant in $BENCH_VARIANTS; do
  case $variant in
    single)
      start_node single
      fanout single "$PORT" "$NODE_PID"
      ;;
    cluster-local)
      start_redis
      start_node cluster-local-a "$REDIS_URL" bench-a
      before=$(redis_info)
      fanout cluster-local "$PORT" "$NODE_PID"
      redis_line cluster-local "$before" "$(redis_info)" "$PORT" "$PORT"
      ;;
    cluster)
      start_redis
      start_node cluster-a "$REDIS_URL" bench-a
      a_port=$PORT a_pid=$NODE_PID
      start_node cluster-b "$REDIS_URL" bench-b
      before=$(redis_info)
      fanout cluster "$PORT" "$NODE_PID" "$a_port" "$a_pid"
      redis_line cluster "$before" "$(redis_info)" "$a_port" "$PORT"
      ;;
    *) echo "unknown variant $variant" >&2; exit 2 ;;
  esac
  cleanup
done

{
  echo "| variant | subscribers | max kept-up msg/s | deliveries/s there | p99 ms there | sustained deliveries/s (p99 < ${BENCH_MAX_P99_MS} ms) | sub-node cores | Redis per event |"
  echo "|---|---|---|---|---|---|---|---|"
  for variant in $BENCH_VARIANTS; do
    python3 - "$BENCH_OUT/$variant.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
run = next(l for l in lines if l.get("bench") == "roost-bench")
redis = next((l for l in lines if l.get("bench") == "cluster-redis"), None)
r = run["results"]
per = "-"
if redis:
    p = redis["per_event"]
    per = (f'{p["publish_calls"]} PUBLISH, {p["in_bytes"]} B in, {p["out_bytes"]} B out; '
           f'{p["subscriber_node_received"]} msg to the sub node, {p["publisher_node_received"]} to the pub node; '
           f'publish_failed {redis["publisher_node"]["publish_failed"]}')
print(f'| {run["label"]} | {r["subscribers"]} | {r["max_keepup_rate"]} | {r["max_keepup_deliveries_per_sec"]} | '
      f'{r["keepup_lat_p99_ms"]} | {r["max_sustained_deliveries_per_sec"]} | {r["keepup_server_cores"]} | {per} |')
PY
  done
} | tee "$BENCH_OUT/cluster.md"
echo "== $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); results in $BENCH_OUT"
