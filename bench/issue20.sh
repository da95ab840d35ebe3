#!/usr/bin/env bash
# Issue 20's table in one run: for each Roost binary given (default: this tree's release
# build), bench/compare.sh's connect, rpc get and fan-out (1 msg/s to 10,000 subscribers)
# scenarios against Roost alone, the floor beside the fan-out, then one table per binary:
#
#   RSS per idle logged-in Primus connection at 10,000            (connect: rss_per_conn_kib)
#   server CPU per delivery, 10,000 subscribers × 1 msg/s          (fanout step 1: cores ÷ deliveries/s)
#   fan-out p99 at 1 msg/s against the floor's p99, same run       (fanout ÷ floor)
#   server CPU per connect + upgrade + JWT login                   (connect: server_cpu_per_1k_conns_ms)
#   server CPU per `get` over Primus                               (rpc get: cores ÷ calls/s)
#
#   bench/issue20.sh                                   # this tree, one round (≈ 4 min)
#   ISSUE20_ROUNDS=2 bench/issue20.sh /tmp/before/roost target/release/roost   # interleaved
#   ISSUE20_ROUNDS=0 ISSUE20_PROFILE=1 bench/issue20.sh   # the profile alone
#   ISSUE20_PROFILE=1 bench/issue20.sh                 # + `perf record -g` of the server at 1 msg/s
#                                                      #   (apt-get install linux-perf)
#   BENCH_TRANSPORT=socketio bench/issue20.sh          # the same over Socket.IO (compare.sh's
#                                                      #   transport; the floor stays Primus)
#
# Binaries run in turn within each round (A B A B …), so load from elsewhere hits both.
# Results: $ISSUE20_OUT/<round>-<n>/ (compare.sh's files) and $ISSUE20_OUT/table.md.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ISSUE20_OUT:=target/bench/issue20-$(date +%Y%m%d-%H%M%S)}"
: "${ISSUE20_ROUNDS:=1}"
: "${ISSUE20_PROFILE:=0}"
mkdir -p "$ISSUE20_OUT"
if [ $# -eq 0 ]; then set -- target/release/roost; fi
BINS=("$@")

for round in $(seq "$ISSUE20_ROUNDS"); do
  for i in "${!BINS[@]}"; do
    out="$ISSUE20_OUT/$round-$i"
    echo "== round $round, binary $i: ${BINS[$i]}"
    env BENCH_ROOST_BIN="${BINS[$i]}" BENCH_TARGETS=roost BENCH_APP=chat \
      BENCH_SCENARIOS="connect rpc fanout" BENCH_RPC_METHODS=get BENCH_RATES=1 \
      BENCH_FLOOR_RATES=1 BENCH_OUT="$out" bench/compare.sh
  done
done

python3 - "$ISSUE20_OUT" "$ISSUE20_ROUNDS" "${BINS[@]}" <<'PY' | tee "$ISSUE20_OUT/table.md"
import json, os, sys, statistics
out, rounds, bins = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def runs(path):
    rows = {}
    if os.path.exists(path):
        for line in open(path):
            try:
                run = json.loads(line)
            except ValueError:
                continue
            key = run["scenario"] + ("/" + run["variant"] if run.get("variant") else "")
            rows[key] = run["results"]
    return rows
def figures(d):
    r = runs(f"{d}/roost.jsonl")
    f = runs(f"{d}/floor.jsonl").get("floor", {})
    c, g, fo = r.get("connect", {}), r.get("rpc/get", {}), r.get("fanout", {})
    step = (fo.get("steps") or [{}])[0]
    fstep = (f.get("steps") or [{}])[0]
    nan = float("nan")
    def ratio(a, b):
        return a / b if a and b else nan
    return {
        "rss": c.get("rss_per_conn_kib", nan),
        "deliv_us": ratio(step.get("server_cores"), step.get("deliveries_per_sec")) * 1e6,
        "p99": step.get("lat_p99_ms", nan),
        "floor_p99": fstep.get("lat_p99_ms", nan),
        "p99_ratio": ratio(step.get("lat_p99_ms"), fstep.get("lat_p99_ms")),
        "floor_us": fstep.get("sender_us_per_delivery", nan),
        "connect_us": c.get("server_cpu_per_1k_conns_ms", nan),
        "get_us": ratio(g.get("server_cores"), g.get("calls_per_sec")) * 1e6,
        "get_rate": g.get("calls_per_sec", nan),
    }
load = open("/proc/loadavg").read().split()[:3]
print(f"Load average at the end: {' '.join(load)}; {os.cpu_count()} CPUs.\n")
for i, b in enumerate(bins):
    per = [figures(f"{out}/{r}-{i}") for r in range(1, rounds + 1)]
    def show(k, fmt="{:.2f}"):
        vals = [p[k] for p in per]
        return " / ".join(fmt.format(v) for v in vals)
    print(f"### `{b}` ({rounds} round(s), values per round)\n")
    print("| figure | measured | target |")
    print("|---|---:|---|")
    print(f"| RSS per idle logged-in Primus connection at 10,000 (KiB) | {show('rss', '{:.3f}')} | ≤ 3.0 |")
    print(f"| server CPU per delivery, 10,000 subscribers × 1 msg/s (µs) | {show('deliv_us')} | ≤ 3 (floor's sender: {show('floor_us')}) |")
    print(f"| fan-out p99 at 1 msg/s (ms) / floor p99 (ms) | {show('p99')} / {show('floor_p99')} = **{show('p99_ratio')}×** | ≤ 1.3× |")
    print(f"| server CPU per connect + upgrade + JWT login (µs) | {show('connect_us', '{:.0f}')} | ≤ 70 |")
    print(f"| server CPU per `get` over Primus (µs) | {show('get_us')} (at {show('get_rate', '{:.0f}')} calls/s) | ≤ 8 |")
    print()
PY
# The profile: a fresh server, 10,000 subscribers set up first, then `perf record -g` of the
# server only while it publishes at 1 msg/s (not during the connects and logins).
if [ "$ISSUE20_PROFILE" = 1 ] && command -v perf >/dev/null; then
  for i in "${!BINS[@]}"; do
    dir="$ISSUE20_OUT/profile-$i"
    mkdir -p "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    ROOST_STORAGE__URL=memory ROOST_PRIMUS__PING_INTERVAL_MS=10000 "${BINS[$i]}" serve \
      --config bench/roost-bench.toml --port "$port" --data-dir "$(mktemp -d "$dir/data.XXXXXX")" \
      >"$dir/server.log" 2>&1 &
    spid=$!
    for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
    target/release/roost-bench --server "127.0.0.1:$port" --server-pid "$spid" --sources 4 \
      --signup bench@example.com:bench-password fanout --subscribers 10000 --rates 1 \
      --step-secs 20 --drain-secs 5 >"$dir/fanout.txt" 2>&1 &
    bpid=$!
    for _ in $(seq 1200); do grep -q 'msg/s' "$dir/fanout.txt" && break; sleep 0.1; done
    sleep 1
    perf record -q -F 999 -g -p "$spid" -o "$dir/perf.data" -- sleep 15 >"$dir/perf.log" 2>&1 || true
    wait "$bpid" || true
    kill -TERM "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    echo "== profile of the server at 10,000 subscribers × 1 msg/s, binary $i (${BINS[$i]})"
    tail -3 "$dir/fanout.txt" | head -1
    perf report -i "$dir/perf.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null |
      grep '%' | grep -v '^#' | head -45 | tee "$dir/top.txt" || true
    perf report -i "$dir/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null |
      grep '%' | grep -v '^#' | head -10 | tee "$dir/dso.txt" || true
  done
fi
