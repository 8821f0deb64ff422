#!/usr/bin/env bash
# Downloads the Debian packages the build needs into .gpu-deps/ (git-ignored), for the lent GPU
# machine: it has CUDA, CMake and ninja but none of our libraries and no network. Run here; the
# device run carries .gpu-deps and scripts/gpu-check.sh unpacks it there (dpkg -x, not installed).
# Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(
  libfmt-dev libfmt9 libspdlog-dev libspdlog1.10 nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev libbenchmark1debian
  libpcre2-dev libpcre2-8-0 libxxhash-dev
  libboost1.74-dev prometheus-cpp-dev libprometheus-cpp-core1.0
)
mkdir -p .gpu-deps
cd .gpu-deps
for p in "${packages[@]}"; do
  ls "${p}"_*.deb >/dev/null 2>&1 || apt-get download "$p"
done
du -sh .
