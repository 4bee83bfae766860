#!/usr/bin/env bash
# Installs every build and test dependency from Debian packages, then configures and builds the
# release preset. Nothing is downloaded at build or test time.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config g++ clang libclang-rt-14-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  libpcre2-dev nlohmann-json3-dev libcpp-httplib-dev libcli11-dev libfmt-dev
  python3 python3-pip chromium
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Python packages used only by integration tests as real clients (never by the build).
if ! python3 -c "import openai" 2>/dev/null; then
  echo "setup: installing the openai Python client (server integration tests)"
  python3 -m pip install -q "openai>=1.0" || echo "setup: warning: could not install openai; the server client test will fail"
fi

cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)"
