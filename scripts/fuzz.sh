#!/usr/bin/env bash
# Coverage-guided fuzzing of every decoder that takes bytes from the network (cargo-fuzz,
# libFuzzer), one target after another, each for FUZZ_SECONDS (default 60). New interesting
# inputs are added to fuzz/corpus/<target>/ (commit the useful ones); a crash leaves its input
# in fuzz/artifacts/<target>/ and fails the run.
#
#   scripts/fuzz.sh                    # every target, 60 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh qs   # one target, longer
#   FUZZ_RUNS=50000 scripts/fuzz.sh       # repeatable: seed 1 (FUZZ_SEED), 50,000 inputs a target
#
# Needs cargo-fuzz (installed with `cargo install` when missing) and a nightly toolchain; on
# stable only, RUSTC_BOOTSTRAP=1 lets stable rustc take the sanitizer flags. The bounded
# replay in CI (`cargo test -p roost-fuzz`) needs neither.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"
seconds="${FUZZ_SECONDS:-60}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --version 0.13.2
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz=(cargo +nightly fuzz)
else
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
fi
if [[ -n "${FUZZ_BUILD_OR_SKIP:-}" ]]; then
  # CI: a machine whose toolchain cannot build the sanitizer targets skips the coverage-guided
  # run with a note (the bounded replay in `cargo test -p roost-fuzz` still ran); a crash
  # found by a run that did start fails.
  if ! "${fuzz[@]}" build >/tmp/roost-fuzz-build.log 2>&1; then
    tail -20 /tmp/roost-fuzz-build.log >&2
    echo "fuzz.sh: the fuzz targets do not build with this toolchain; skipped (see above)" >&2
    exit 0
  fi
fi
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || mapfile -t targets < <(ls fuzz_targets | sed 's/\.rs$//')
for target in "${targets[@]}"; do
  printf '\n== fuzz %s for %ss\n' "$target" "$seconds" >&2
  mkdir -p "corpus/$target"
  # FUZZ_RUNS (CI): a fixed seed and a fixed number of inputs, so a run is repeatable and a
  # commit's CI does not turn red by luck; without it, a random seed for FUZZ_SECONDS.
  extra=()
  [[ -z "${FUZZ_RUNS:-}" ]] || extra=(-seed="${FUZZ_SEED:-1}" -runs="$FUZZ_RUNS")
  "${fuzz[@]}" run "$target" "corpus/$target" -- -max_total_time="$seconds" -max_len=4096 \
    -timeout=10 -rss_limit_mb=2048 "${extra[@]}"
done
if [[ -n "${FUZZ_RUNS:-}" ]]; then
  echo "fuzz.sh: ${#targets[@]} target(s), ${FUZZ_RUNS} inputs each from seed ${FUZZ_SEED:-1} (${seconds}s at most), without a crash" >&2
else
  echo "fuzz.sh: ${#targets[@]} target(s) ran ${seconds}s each without a crash" >&2
fi
