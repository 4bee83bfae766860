#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: install dependencies, build, run every test
# in release, run it again under AddressSanitizer + UndefinedBehaviorSanitizer, then a bounded
# fuzz run of the GGUF reader. Needs ../shared/fixtures beside the checkout (or MLA_FIXTURES_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

scripts/setup.sh
extra=()
[ -n "${MLA_FIXTURES_DIR:-}" ] && extra+=("-DMLA_FIXTURES_DIR=$MLA_FIXTURES_DIR")
[ ${#extra[@]} -gt 0 ] && cmake --preset release "${extra[@]}" >/dev/null && cmake --build --preset release

passed=0
failed=0
run_ctest() {  # run_ctest PRESET
  local log
  log=$(mktemp)
  set +e
  ctest --preset "$1" -j"$(nproc)" --timeout 900 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  local total fails
  total=$(grep -oE 'tests failed out of [0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
  fails=$(grep -oE '[0-9]+ tests failed out of' "$log" | grep -oE '^[0-9]+' || echo 0)
  passed=$((passed + total - fails))
  failed=$((failed + fails))
  [ "$rc" -eq 0 ] || failed=$((failed > 0 ? failed : 1))
  rm -f "$log"
}

echo "== release tests"
run_ctest release

echo "== sanitizer build (address, undefined)"
cmake --preset sanitize "${extra[@]}" >/dev/null
cmake --build --preset sanitize -j"$(nproc)"
echo "== sanitizer tests"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 run_ctest sanitize

if [ -x scripts/fuzz-gguf.sh ]; then
  echo "== fuzz smoke run (GGUF reader)"
  if scripts/fuzz-gguf.sh "${MLA_FUZZ_SECONDS:-60}"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
fi

echo "== done in $(( $(date +%s) - start )) s"
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
