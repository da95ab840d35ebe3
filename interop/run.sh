#!/usr/bin/env bash
# Run the interop suite: official Feathers JS clients against a server.
#
#   interop/run.sh                               # against Roost: $ROOST_BIN (default ../target/debug/roost)
#                                                # and $ROOST_INTEROP_BIN (default ../target/debug/examples/interop)
#                                                # and $ROOST_EXAMPLES_DIR (default ../target/debug/examples: seed)
#   INTEROP_SERVER=reference interop/run.sh      # against the Node reference server (bench/reference)
#   interop/run.sh test/rest-basics.test.js      # extra arguments go to mocha
#   INTEROP_SERVER=gateway interop/run.sh test/chat.test.js   # Roost in gateway mode in front of the
#                                                # reference chat app (plugin; gateway-rest: zero-SDK)
#
# Builds nothing: the Roost binaries must exist (scripts/test.sh builds them).
# Installs npm dependencies (npm ci) for interop/ and bench/reference/ when
# node_modules is missing or older than package-lock.json's content.
# Exit code = mocha's (0 when every test passed).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

# npm ci in $1 unless node_modules was installed from the current package-lock.json.
ensure_deps() {
  local dir="$1" stamp="$1/node_modules/.roost-lock-sha256" want
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  echo "run.sh: npm ci in ${dir#"$root"/}" >&2
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
}

ensure_deps "$here"
ensure_deps "$root/bench/reference"

export INTEROP_SERVER="${INTEROP_SERVER:-roost}"
cd "$here"
# Default spec: every test file; any argument replaces it (mocha would add to
# a spec set in .mocharc, so none is set there).
if [[ $# -eq 0 ]]; then
  set -- test/*.test.js
fi

# Against Roost, check (never build) the binaries the selected test files start:
# primus-* files start the real-time example, examples.test.js the application examples
# (crates/roost/examples/seed, in $ROOST_EXAMPLES_DIR), the others the roost binary.
# Arguments that are not .js files (mocha options) select all.
need_roost=0 need_example=0 need_apps=0
for arg in "$@"; do
  case "$arg" in
    *primus-*.js) need_example=1 ;;
    *examples.test.js) need_apps=1 ;;
    *.js) need_roost=1 ;;
  esac
done
if [[ $need_roost -eq 0 && $need_example -eq 0 && $need_apps -eq 0 ]]; then
  need_roost=1 need_example=1 need_apps=1
fi

# Exit 2 if binary $2 (relative paths are relative to interop/) does not exist; $3 builds it.
require_bin() {
  local var="$1" bin="$2" build="$3"
  [[ "$bin" = /* ]] || bin="$here/$bin"
  if [[ ! -x "$bin" ]]; then
    echo "run.sh: $bin not found; build it ($build) or set $var," >&2
    echo "        or run against the reference: INTEROP_SERVER=reference $0" >&2
    exit 2
  fi
}
if [[ "$INTEROP_SERVER" == roost* || "$INTEROP_SERVER" == gateway* ]] && [[ $need_roost -eq 1 ]]; then
  require_bin ROOST_BIN "${ROOST_BIN:-../target/debug/roost}" "cargo build -p roost"
fi
if [[ "$INTEROP_SERVER" == roost && $need_example -eq 1 ]]; then
  require_bin ROOST_INTEROP_BIN "${ROOST_INTEROP_BIN:-../target/debug/examples/interop}" \
    "cargo build -p roost --example interop"
fi

if [[ "$INTEROP_SERVER" == roost && $need_apps -eq 1 ]]; then
  require_bin ROOST_EXAMPLES_DIR "${ROOST_EXAMPLES_DIR:-../target/debug/examples}/seed" \
    "cargo build -p roost --examples"
fi

echo "run.sh: testing the $INTEROP_SERVER server" >&2
exec "$here/node_modules/.bin/mocha" "$@"
