#!/usr/bin/env bash
# One call on a lent GPU machine (no network): install skmobile over the image's torch/numba, run the
# real-GPU kernel tests, the kernel probe and the benchmarks. Logs go to $OUT (or ./gpu-out).
# Usage: bash tools/gpu_check.sh [tests] [probe] [host] [kernels] [model]   (default: all five)
set -uo pipefail
OUT=${OUT:-gpu-out}; mkdir -p "$OUT"
steps=${*:-tests probe host kernels model}
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv | tee "$OUT/gpu.txt"
python3 -m pip show numba numba-cuda torch timm 2>/dev/null | grep -E '^(Name|Version)' | paste - - | tee -a "$OUT/gpu.txt"
# The image's numpy (2.5) breaks its numba-cuda (np.row_stack is gone): carry an older wheel in .whl/.
if ls .whl/numpy-*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/numpy-*.whl \
    >"$OUT/install.log" 2>&1 || { cat "$OUT/install.log"; exit 1; }
  export PYTHONPATH=/tmp/site
fi
# Import skmobile from this checkout: kernels/ and search/ install as skmobile.kernels / .search.
ln -sfn ../kernels skmobile/kernels; ln -sfn ../search skmobile/search
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
sk() { python3 -m skmobile "$@"; }
for s in $steps; do
  case $s in
    tests) python3 -m pytest -q -p no:cacheprovider tests/test_kernels_gpu.py 2>&1 | tail -15 | tee "$OUT/tests.txt" ;;
    probe) python3 tools/cuda_probe.py 2>&1 | tee "$OUT/probe.txt" ;;
    host) python3 tools/host_probe.py --device cuda 2>&1 | tee "$OUT/host.txt" ;;
    link) python3 tools/cuda_probe.py --link 2>&1 | tee "$OUT/link.txt" ;;
    trace) python3 tools/cuda_probe.py --trace 2>&1 | tee "$OUT/trace.txt" ;;
    profile) python3 tools/cuda_probe.py --profile 2>&1 | tee "$OUT/profile.txt" ;;
    kernels) sk bench kernels --device cuda --family sknet50 --batch 32,256 --pass fwd,fwd+bwd \
               --rounds 5 --format table --out "$OUT/kernels.md" 2>&1 | tee "$OUT/bench_kernels.txt" ;;
    kernels-all) sk bench kernels --device cuda --rounds 5 --format table --out "$OUT/kernels.md" 2>&1 \
               | tee "$OUT/bench_kernels.txt" ;;
    model) for b in ${MODEL_BATCHES:-64 128}; do
             sk bench model sknet50 --vs resnext50_32x4d --device cuda --train --batch $b --iters 10 \
               --rounds 3 --fusions torch,numba,auto,free 2>&1 | tee -a "$OUT/bench_model.txt"
           done ;;
    *) echo "unknown step $s"; exit 2 ;;
  esac
done
