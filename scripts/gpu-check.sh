#!/usr/bin/env bash
# The GPU check of issue 9, for a machine with an NVIDIA GPU, CMake and the CUDA
# toolkit, and no Node.js: builds the engine, the CUDA plugin (for this GPU's
# architecture only) and test-backend-ops, then
#   1. test: every engine op on every GPU against the CPU, and a tiny CornerNet
#      trained two steps on both; every op must have a kernel (--require-all);
#      once with cuDNN/cuBLAS when they can be found, once on the own kernels;
#      with 2 or more GPUs and NCCL, an all-reduce over one rank per GPU;
#   2. perf: kernel timings (GB/s against the device's copy bandwidth, GFLOP/s),
#      HourglassNet-104 forward at 1x3x511x511 and training steps at batch 6.
# Output: stdout, and $OUT/gpu-check.log when OUT is set. Exit status: the test's.
# Usage: scripts/gpu-check.sh [build-dir]   (about 3 minutes of build on 16 cores)
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/gpu-check}
log=${OUT:-$build}/gpu-check.log
mkdir -p "$build" "$(dirname "$log")"
exec > >(tee "$log") 2>&1

echo "== machine"
nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader || true
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
nvcc --version | tail -n 2
cmake --version | head -n 1

# This GPU's architecture, e.g. 90 for an H100/H200.
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d ' .')
arch=${arch:-90}

# cuDNN / cuBLAS / NCCL from NVIDIA's Python wheels when present: their libraries
# for dlopen, their headers for the check that our hand declarations match.
cmake_extra=()
libdirs=""
for pkg in cudnn cublas nccl; do
  # A package with __init__.py: its folder; a namespace package (the CUDA 13 wheels): its path.
  dir=$(python3 -c "import nvidia.$pkg as m, os; print(os.path.dirname(m.__file__) if getattr(m, '__file__', None) else list(m.__path__)[0])" 2>/dev/null || true)
  [ -n "$dir" ] && [ -d "$dir/lib" ] && libdirs="$libdirs:$dir/lib"
  [ -n "$dir" ] && [ -d "$dir/include" ] && cmake_extra+=("-D$(echo "$pkg" | tr a-z A-Z)_INCLUDE_DIR=$dir/include")
done
echo "library folders:${libdirs:- none found}"

gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
echo "== build (sm_$arch)"
start=$(date +%s)
CORNERNET_CUDA_ARCHS="${arch}-real" cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCORNERNET_ADDON=OFF -DCORNERNET_TEST_TOOLS=OFF "${cmake_extra[@]}" || exit 1
cmake --build "$build" --target test-backend-ops --parallel "$(nproc)" || exit 1
echo "build: $(( $(date +%s) - start )) s"
tbo="$build/Release/test-backend-ops"

status=0
echo "== test, own kernels (cuDNN and cuBLAS not loaded)"
CORNERNET_CUDNN=0 CORNERNET_CUBLAS=0 "$tbo" test --require-all || status=1
if [ -n "$libdirs" ]; then
  echo "== test, with cuDNN / cuBLAS / NCCL"
  LD_LIBRARY_PATH="${libdirs#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tbo" test --require-all --no-model || status=1
fi
echo "== perf"
LD_LIBRARY_PATH="${libdirs#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" timeout 300 "$tbo" perf || echo "perf failed or timed out"
echo "== done: test status $status"
exit $status
