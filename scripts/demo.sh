#!/usr/bin/env bash
# Sets up (Debian packages, release build) and runs the main job on the default model in the repo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build/release/tools/mla-gguf info models/ds3-demo.Q4_K_M.gguf
