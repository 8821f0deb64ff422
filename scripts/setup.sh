#!/usr/bin/env bash
# Installs what atom.cpp needs to build and test: Debian packages and Python tools.
# Idempotent: a second run installs nothing new. Run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  nlohmann-json3-dev libfmt-dev libspdlog-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libxxhash-dev libpcre2-dev
  libboost-dev               # Beast/Asio (header-only) for the HTTP server
  prometheus-cpp-dev         # /metrics
  python3 python3-numpy
  clang libclang-rt-14-dev   # libFuzzer (the `fuzz` preset)
  chromium                   # headless browser for the chat-page e2e test
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: Debian packages present"
fi

# The Python used by the end-to-end tests needs numpy (Debian's python3-numpy serves the system
# python; a pyenv or venv python on PATH gets it from the package index).
if ! python3 -c "import numpy" 2>/dev/null; then
  echo "setup: installing numpy for $(command -v python3)"
  python3 -m pip install --quiet "numpy>=1.24"
fi
# The server's end-to-end tests drive it with the official OpenAI client (pinned: the tests check
# its behaviour).
if ! python3 -c "import openai, sys; sys.exit(openai.__version__ != '3.57.0')" 2>/dev/null; then
  echo "setup: installing openai 3.57.0 for $(command -v python3)"
  python3 -m pip install --quiet "openai==3.57.0"
fi
echo "setup: done"
