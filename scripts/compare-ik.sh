#!/bin/bash
# Side-by-side speed against ik_llama.cpp (issue 9), run by hand, never in CI: alternates the two
# engines on the same file and measures the machine's read bandwidth right before and after each
# run, since a shared machine's bandwidth can change from one run to the next.
#   IK_BIN=/path/to/ik_llama.cpp/build/bin scripts/compare-ik.sh MODEL.gguf [rounds] [prompt tokens]
# ik_llama.cpp is built separately, from its own repository; this script only runs it.
set -euo pipefail
model=${1:?usage: IK_BIN=... $0 MODEL.gguf [rounds] [prompt tokens]}
rounds=${2:-4}
prompt=${3:-0}
ik=${IK_BIN:?set IK_BIN to the build/bin folder of ik_llama.cpp}/llama-bench
mla=${MLA_BENCH:-$(dirname "$0")/../build/release/tools/mla-bench}
tests="-p $prompt -n 128"
bandwidth() { "$mla" --bandwidth -t 2 2>&1 | grep -o "read bandwidth [0-9.]*" | tail -1 | awk '{print $3}'; }
speeds() { grep -E "\| +(pp$prompt|tg128)" | awk -F'|' "{printf \"%s \", \$($1)}"; }
echo "round | GB/s | ik t/s | GB/s | mla t/s | GB/s   (pp$prompt first when measured, then tg128)"
for r in $(seq "$rounds"); do
  b0=$(bandwidth)
  i=$("$ik" -m "$model" $tests -t 2 -r 1 -mla 3 -fa 1 -fmoe 1 -rtr 1 2>/dev/null | speeds 'NF-1')
  b1=$(bandwidth)
  m=$("$mla" -m "$model" $tests -t 2 -r 1 2>/dev/null | speeds 10)
  b2=$(bandwidth)
  echo "$r | $b0 | $i| $b1 | $m| $b2"
done
