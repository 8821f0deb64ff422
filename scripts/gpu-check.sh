#!/usr/bin/env bash
# Runs on the lent GPU machine (see docs/gpu-machine.md): builds the cuda preset with every core
# against the Debian packages carried in .gpu-deps (scripts/gpu-deps.sh), runs the `gpu` tests,
# then the GPU benchmarks, and prints a short table last. Results and logs go to $OUT when set.
#
#   scripts/gpu-check.sh [--portable] [--filter GTEST_FILTER] [--no-bench] [--no-reference]
#   scripts/gpu-check.sh [--portable] --build-only TARGET...   (builds those targets, then exits:
#                                                              for a probe run that runs them)
#
# Environment: ATOM_GPU_DEPS (folder of .deb files, default .gpu-deps), ATOM_GPU_BUILD_DIR
# (default build/gpu or build/gpu-portable), ATOM_COMMIT (reported as the commit).
#
# --portable builds without the tuned sm_90a kernels (ATOM_CUDA_TUNED=OFF): every op must still
# run correctly on its portable variant. Unless --no-reference, a real-dimension checkpoint
# (gpt-oss-20b shapes, 2 layers, `atom synth`) and its transformers logits are made first
# (tools/hf_reference.py, cached in /tmp) for the end-to-end gpu test.
set -uo pipefail
cd "$(dirname "$0")/.."

portable=0 filter="*" bench=1 reference=1 build_only=()
while (($#)); do
  case "$1" in
    --build-only) shift; build_only=("$@"); break ;;
    --portable) portable=1 ;;
    --filter) filter="$2"; shift ;;
    --no-bench) bench=0 ;;
    --no-reference) reference=0 ;;
    *) echo "gpu-check: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
out="${OUT:-/tmp/atom-gpu-out}"
mkdir -p "$out"

# Our libraries, unpacked (not installed) from the carried Debian packages.
deps=/tmp/atom-deps
if [[ ! -d $deps/usr ]]; then
  for f in "${ATOM_GPU_DEPS:-.gpu-deps}"/*.deb; do dpkg -x "$f" "$deps"; done
fi
multiarch=$deps/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH=$multiarch${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1

nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
build=${ATOM_GPU_BUILD_DIR:-build/gpu$([[ $portable == 1 ]] && echo -portable)}
tuned=$([[ $portable == 1 ]] && echo OFF || echo ON)
start=$(date +%s)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DATOM_ENABLE_CUDA=ON \
  -DATOM_CUDA_TUNED=$tuned -DCMAKE_CUDA_COMPILER="$nvcc" -DCMAKE_PREFIX_PATH="$deps/usr" \
  -DCMAKE_INCLUDE_PATH="$deps/usr/include" -DCMAKE_LIBRARY_PATH="$multiarch" \
  > "$out/configure.log" 2>&1 || { tail -40 "$out/configure.log"; exit 1; }
# Only what runs here: the binary (and its demo model), the gpu tests and the CUDA benchmarks.
targets=(atom atom_demo_model atom_gpu_tests)
((${#build_only[@]})) && targets=("${build_only[@]}") bench=0
[[ $bench == 1 ]] && targets+=($(cmake --build "$build" --target help | grep -o "atom_cuda_[a-z_]*_bench" | sort -u))
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}" > "$out/build.log" 2>&1 || { grep -B2 -A12 -m5 "error" "$out/build.log"; tail -20 "$out/build.log"; exit 1; }
build_s=$(($(date +%s) - start))
if ((${#build_only[@]})); then echo "built ${build_only[*]} in $build (${build_s} s)"; exit 0; fi

if [[ $reference == 1 ]]; then
  ref=/tmp/atom-ref-20b-2l
  start=$(date +%s)
  python3 tools/hf_reference.py --atom "$build/atom" --synth "--preset 20b --layers 2 --seed 1" \
    --out "$ref" > "$out/reference.log" 2>&1 || { tail -30 "$out/reference.log"; exit 1; }
  export ATOM_GPU_REFERENCE_DIR=$ref
  echo "reference: $ref ($(($(date +%s) - start)) s)"
fi

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/device.txt"
"$build/tests/atom_gpu_tests" --gtest_filter="$filter" --gtest_output="json:$out/gpu_tests.json" \
  2>&1 | tee "$out/gpu_tests.log" | grep -E "^\[ *(RUN|OK|FAILED|PASSED) *\]|Failure|error|seed" | tail -80
tests_rc=${PIPESTATUS[0]}

if [[ $bench == 1 ]]; then
  for b in "$build"/bench/atom_cuda_*_bench; do
    [[ -x $b ]] || continue
    name=$(basename "$b")
    "$b" --benchmark_out="$out/$name.json" --benchmark_out_format=json 2>&1 | tail -30
  done
fi

echo
echo "| what | result |"
echo "| --- | --- |"
echo "| device | $(head -1 "$out/device.txt") |"
# The device's copy of the tree may carry stale git metadata: the caller passes ATOM_COMMIT.
echo "| commit | ${ATOM_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo '?')} |"
echo "| build ($build, sm_90a $tuned) | ${build_s} s |"
python3 - "$out/gpu_tests.json" <<'PY'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except Exception as e:
    print(f"| gpu tests | no report ({e}) |"); sys.exit()
failed = [f"{s['name']}.{t['name']}" for s in r["testsuites"] for t in s["testsuite"] if t.get("failures")]
print(f"| gpu tests | {r['tests'] - len(failed)}/{r['tests']} passed |")
for f in failed: print(f"| FAILED | {f} |")
PY
exit "$tests_rc"
