#!/usr/bin/env bash
# Fuzzes the GGUF reader for a bounded time: builds the `fuzz` preset (clang++, libFuzzer, ASan,
# UBSan), writes the seed corpus, runs gguf_fuzz for SECONDS (default 60) on one core.
# Exits non-zero when the fuzzer finds a crash, leak, timeout or out-of-memory input; the input
# is left in build/fuzz/gguf-fuzz/artifacts/. The corpus grows in build/fuzz/gguf-fuzz/corpus/.
#
# Usage: scripts/fuzz-gguf.sh [SECONDS] [extra libFuzzer flags...]
set -euo pipefail

seconds=${1:-60}
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "fuzz-gguf.sh: expected SECONDS as a positive integer, found '$seconds'" >&2
  exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
fixtures=${MLA_FIXTURES:-$root/../shared/fixtures}
cd "$root"

cmake --preset fuzz >/dev/null
cmake --build build/fuzz --target gguf_fuzz gguf_fuzz_seeds -j2

work=$root/build/fuzz/gguf-fuzz
bin=$root/build/fuzz/tests/fuzz
mkdir -p "$work/seeds" "$work/corpus" "$work/artifacts"
seed_fixtures=()
for f in "$fixtures/models/ds3-tiny.mla.gguf" "$fixtures/models/ds2-lite-tiny.legacy.gguf" \
         "$fixtures/models/ds3-small.Q4_K_M.gguf" "$fixtures/vocab/ggml-vocab-deepseek-llm.gguf"; do
  [ -f "$f" ] && seed_fixtures+=("$f")
done
"$bin/gguf_fuzz_seeds" "$work/seeds" "${seed_fixtures[@]}"

before=$(ls "$work/artifacts" | wc -l)
status=0
cd "$work"  # with -jobs=N libFuzzer writes fuzz-N.log into the current folder
"$bin/gguf_fuzz" "$work/corpus" "$work/seeds" \
  -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$@" || status=$?
after=$(ls "$work/artifacts" | wc -l)

if [ "$status" -ne 0 ] || [ "$after" -ne "$before" ]; then
  echo "fuzz-gguf.sh: FINDING (exit $status); inputs in $work/artifacts/:" >&2
  ls -t "$work/artifacts" | head >&2
  exit 1
fi
echo "fuzz-gguf.sh: no finding in ${seconds}s; corpus $(ls "$work/corpus" | wc -l) files"
