#!/usr/bin/env bash
# Sets up (Debian packages, release build) and runs the main job: generation with mla-cli on the
# default model kept in the repo. Extra arguments go to mla-cli (e.g. -p "..." -n 128 --temp 0.7).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ $# -eq 0 ]; then set -- -p "The license" -n 64 --temp 0; fi
build/release/tools/mla-cli -m models/ds3-demo.Q4_K_M.gguf "$@"
