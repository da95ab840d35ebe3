#!/usr/bin/env bash
# Browser tests: headless Chromium (Debian's `chromium`, installed with apt-get when missing)
# against a real `roost` binary.
#
#   ROOST_BIN=target/debug/roost scripts/browser-test.sh   # every test in interop/browser
#   ROOST_BIN=… scripts/browser-test.sh primus-client.js   # one
#
# Each test starts its own roost on a free port, drives a page over the devtools protocol and
# prints what it checked (screenshots: their paths).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
: "${ROOST_BIN:?set ROOST_BIN to the roost binary}"
export ROOST_BIN="$(cd "$(dirname "$ROOST_BIN")" && pwd)/$(basename "$ROOST_BIN")"

if ! command -v "${CHROMIUM_BIN:-chromium}" >/dev/null 2>&1; then
  echo "browser-test.sh: chromium is missing; installing it with apt-get" >&2
  if [[ $(id -u) -eq 0 ]]; then apt-get update -qq && apt-get install -y -qq chromium; else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi
fi

stamp=interop/node_modules/.roost-lock-sha256
want="$(sha256sum interop/package-lock.json | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  (cd interop && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
fi

tests=("$@")
if [[ ${#tests[@]} -eq 0 ]]; then
  tests=(primus-client.js dashboard.js)
fi
for t in "${tests[@]}"; do
  echo "== browser: $t" >&2
  timeout 300 node "interop/browser/$t"
done
