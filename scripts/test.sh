#!/usr/bin/env bash
# Runs every Roost test from a fresh checkout: formatting, lints, the Rust tests, then the
# interop suite that drives a real `roost` binary with the official JavaScript clients.
# Installs what it needs (npm packages through `npm ci`; Rust crates through cargo).
#
#   scripts/test.sh            # everything
#   SKIP_INTEROP=1 scripts/test.sh   # Rust only
#   SKIP_FUZZ=1 scripts/test.sh      # without the bounded cargo-fuzz run (200,000 inputs a target)
#
# PostgreSQL, MariaDB and Redis run as real servers on free 127.0.0.1 ports with throw-away
# data directories (scripts/services/), started before the Rust tests and stopped by PID after.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

step() { printf '\n== %s\n' "$*" >&2; }

need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "test.sh: $1 is missing; installing $2 with apt-get" >&2
  if [[ $(id -u) -eq 0 ]]; then apt-get update -qq && apt-get install -y -qq "$2"; else sudo apt-get update -qq && sudo apt-get install -y -qq "$2"; fi
}

need cargo cargo
need node nodejs
need npm npm

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "npm ci in tools/auth-vectors (bcryptjs/jsonwebtoken cross-checks of roost-auth)"
stamp=tools/auth-vectors/node_modules/.roost-lock-sha256
want="$(sha256sum tools/auth-vectors/package-lock.json | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  (cd tools/auth-vectors && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
fi

step "tools/primus-client: the embedded primus.js matches the npm packages"
stamp=tools/primus-client/node_modules/.roost-lock-sha256
want="$(sha256sum tools/primus-client/package-lock.json | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  (cd tools/primus-client && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
fi
node tools/primus-client/gen.js --check

step "npm ci in tools/cluster-vectors (feathers-sync/flatted cross-checks of roost-redis)"
stamp=tools/cluster-vectors/node_modules/.roost-lock-sha256
want="$(sha256sum tools/cluster-vectors/package-lock.json | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  (cd tools/cluster-vectors && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
fi

step "cargo test, with throw-away PostgreSQL, MariaDB and Redis servers (installed when missing)"
# roost-redis' `tls` feature (rediss://) is not in the default build; its test starts a TLS
# redis-server of its own.
scripts/services/with-databases.sh bash -c \
  'cargo test --workspace && cargo test -p roost-redis --features tls --test tls'

if [[ -z "${SKIP_FUZZ:-}" ]]; then
  step "fuzz: every network decoder under cargo-fuzz, 200,000 inputs from seed 1 each, 60 s at most (scripts/fuzz.sh runs longer)"
  FUZZ_SECONDS="${FUZZ_SECONDS:-60}" FUZZ_RUNS="${FUZZ_RUNS:-200000}" FUZZ_BUILD_OR_SKIP=1 scripts/fuzz.sh
fi

if [[ -z "${SKIP_INTEROP:-}" ]]; then
  step "cargo build -p roost --bins --examples (for the interop suite)"
  cargo build -p roost --bins --examples
  step "interop: official JS clients against roost"
  target_dir="${CARGO_TARGET_DIR:-$root/target}"
  [[ "$target_dir" = /* ]] || target_dir="$root/$target_dir"
  ROOST_BIN="$target_dir/debug/roost" ROOST_INTEROP_BIN="$target_dir/debug/examples/interop" \
    ROOST_EXAMPLES_DIR="$target_dir/debug/examples" \
    interop/run.sh
  step "browser: headless Chromium against roost (installed when missing)"
  ROOST_BIN="$target_dir/debug/roost" scripts/browser-test.sh
  step "drain: the official Primus and Socket.IO clients reconnect to a second node after SIGTERM"
  ROOST_BIN="$target_dir/debug/roost" node interop/ops/drain-reconnect.js
  step "interop: REST adapter-tests with the SQL services on PostgreSQL, then MariaDB"
  ROOST_BIN="$target_dir/debug/roost" scripts/services/with-databases.sh bash -c '
    for url in "$ROOST_TEST_POSTGRES_URL" "$ROOST_TEST_MYSQL_URL"; do
      ROOST_STORAGE__URL="$url" interop/run.sh test/rest-adapter.test.js || exit 1
    done'
  step "interop: three roost serve nodes on Redis and PostgreSQL with the official clients (cluster), also behind nginx (installed when missing)"
  ROOST_BIN="$target_dir/debug/roost" scripts/services/with-databases.sh \
    interop/run.sh test/cluster.test.js test/cluster-nginx.test.js test/gateway-cluster.test.js
fi

echo "test.sh: all tests passed" >&2
