#!/usr/bin/env bash
# Run the interop suite: official Feathers JS clients against a server.
#
#   interop/run.sh                               # against Roost ($ROOST_BIN, default ../target/debug/roost)
#   INTEROP_SERVER=reference interop/run.sh      # against the Node reference server (bench/reference)
#   interop/run.sh test/rest-basics.test.js      # extra arguments go to mocha
#
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
if [[ "$INTEROP_SERVER" == roost ]]; then
  bin="${ROOST_BIN:-../target/debug/roost}"
  [[ "$bin" = /* ]] || bin="$here/$bin"
  if [[ ! -x "$bin" ]]; then
    echo "run.sh: Roost binary $bin not found; build it (cargo build -p roost) or set ROOST_BIN," >&2
    echo "        or run against the reference: INTEROP_SERVER=reference $0" >&2
    exit 2
  fi
fi

cd "$here"
echo "run.sh: testing the $INTEROP_SERVER server" >&2
# Default spec: every test file; any argument replaces it (mocha would add to
# a spec set in .mocharc, so none is set there).
if [[ $# -eq 0 ]]; then
  set -- test/*.test.js
fi
exec "$here/node_modules/.bin/mocha" "$@"
