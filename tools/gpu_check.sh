#!/usr/bin/env bash
# One call on a lent GPU machine (no network): install skmobile over the image's torch/numba, run the
# real-GPU kernel tests, then issue 16's measurements, one `skmobile bench model` command per row.
# Every step has its own timeout and the whole run a budget (BUDGET_S), so one hang cannot eat it.
# Logs go to $OUT (or ./gpu-out): env.txt, tests.txt, model.txt, probe.txt (+ install.log on failure).
#
# Usage: bash tools/gpu_check.sh [STEP ...]     (default: the issue-16 set, in priority order)
#   steps: tests sk-bf16 mbv2-bf16 sk-fp32 batch1 shuf-bf16 compile | probe mbv2-dilated proxy kernels probe-cuda host
#   DRY=1 bash tools/gpu_check.sh   runs the same commands on CPU with tiny sizes (checks the script)
set -uo pipefail
OUT=${OUT:-gpu-out}; mkdir -p "$OUT"
BUDGET_S=${BUDGET_S:-450}
START=$(date +%s)
export PYTHONUNBUFFERED=1
PY=${PY:-python3}
DRY=${DRY:-0}
steps=${*:-tests sk-bf16 mbv2-bf16 sk-fp32 batch1 shuf-bf16 compile}

if [ "$DRY" = 1 ]; then  # CPU, tiny: same commands, so a typo fails here and not on the GPU
  DEV=cpu; B_SK=2; B_MOB=2; SIZE=32; ITERS=1; ROUNDS=1; B1_ITERS=2; PROBE="--batch 2 --iters 1 --shapes 8:14"
  PROXY_STEPS=1; PROXY_BATCH="--batch-size 2"
  TMUL=${TMUL:-8}  # CPU bf16 and 2 busy cores: longer limits
else
  TMUL=1; DEV=cuda; B_SK=128; B_MOB=256; SIZE=224; ITERS=5; ROUNDS=2; B1_ITERS=20; PROBE="--batch 256 --iters 10"
  PROXY_STEPS=30; PROXY_BATCH=""
fi

{ nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv 2>/dev/null || echo "no nvidia-smi";
  $PY -m pip show numba numba-cuda torch timm 2>/dev/null | grep -E '^(Name|Version)' | paste - -; } | tee "$OUT/env.txt"
# The image's numpy (2.5) breaks its numba-cuda (np.row_stack is gone): carry an older wheel in .whl/.
if [ "$DRY" != 1 ] && ls .whl/numpy-*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/numpy-*.whl \
    >"$OUT/install.log" 2>&1 || { cat "$OUT/install.log"; exit 1; }
  rm -f "$OUT/install.log"
  export PYTHONPATH=/tmp/site
fi
# Import skmobile from this checkout: kernels/ and search/ install as skmobile.kernels / .search.
if ! $PY -c "import skmobile.kernels" >/dev/null 2>&1; then
  ln -sfn ../kernels skmobile/kernels; ln -sfn ../search skmobile/search
  export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
fi
$PY -c "import numpy, torch, skmobile; print('numpy', numpy.__version__, 'torch', torch.__version__)" | tee -a "$OUT/env.txt"

# run SECONDS LOGFILE CMD...: echo the command, run it under min(SECONDS, budget left), append to LOGFILE.
run() {
  local limit=$(( $1 * TMUL )) log=$2; shift 2
  local left=$(( BUDGET_S - ($(date +%s) - START) ))
  if [ "$left" -lt 20 ]; then echo "SKIPPED (budget spent): $*" | tee -a "$OUT/$log"; return 0; fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "\$ $*" | tee -a "$OUT/$log"
  local t0=$(date +%s)
  timeout -k 10 "$limit" "$@" 2>&1 | tee -a "$OUT/$log"
  local rc=${PIPESTATUS[0]}
  echo "[rc=$rc, $(( $(date +%s) - t0 )) s]" | tee -a "$OUT/$log"; echo >>"$OUT/$log"
}
SK="$PY -m skmobile"  # a command (not a function): timeout runs it
M="bench model --device $DEV --iters $ITERS --rounds $ROUNDS --input-size $SIZE"

for s in $steps; do
  case $s in
    tests) run 150 tests.txt $PY -m pytest -q -p no:cacheprovider tests/test_kernels_gpu.py ;;
    # issue 16 rows: ratios to the base model from one run; 'free' is the ceiling of any fusion
    sk-bf16) run 90 model.txt $SK $M sknet50 --vs resnext50_32x4d --train --batch $B_SK --amp bf16 --channels-last \
               --fusions torch,numba,auto,free ;;
    mbv2-bf16) run 90 model.txt $SK $M mobilenetv2_100_sk --vs mobilenetv2_100 --train --batch $B_MOB --amp bf16 \
                 --channels-last --fusions torch,numba,auto,free ;;
    mbv2-dilated) run 60 model.txt $SK $M mobilenetv2_100_sk --vs mobilenetv2_100 --train --batch $B_MOB --amp bf16 \
                 --channels-last --fusions torch,auto --dilated-as dilated ;;
    shuf-bf16) run 90 model.txt $SK $M shufflenetv2_x1_0_sk --vs shufflenetv2_x1_0 --train --batch $B_MOB --amp bf16 \
                 --channels-last --fusions torch,numba,auto,free ;;
    sk-fp32) run 90 model.txt $SK $M sknet50 --vs resnext50_32x4d --train --batch $B_SK --fusions torch,numba,auto,free ;;
    batch1) run 45 model.txt $SK bench model --device $DEV --iters $B1_ITERS --rounds $ROUNDS --input-size $SIZE \
              mobilenetv2_100_sk --vs mobilenetv2_100 --batch 1 --fusions torch,auto,numba
            run 45 model.txt $SK bench model --device $DEV --iters $B1_ITERS --rounds $ROUNDS --input-size $SIZE \
              sknet50 --vs resnext50_32x4d --batch 1 --fusions torch,auto,numba ;;
    probe) run 45 probe.txt $PY tools/dilated_probe.py --device $DEV $PROBE ;;
    compile) run 240 model.txt $SK bench model --device $DEV --iters $ITERS --rounds 1 --input-size $SIZE \
               sknet50 --vs resnext50_32x4d --train --batch $B_SK --amp bf16 --channels-last --compile \
               --fusions torch,numba ;;
    # issue 15: what one table-budget trial costs on this GPU (the grid needs 55 of them for Table 7)
    proxy) for m in sknet50 shufflenetv2_x1_0_sk mobilenetv2_100_sk; do
             run 60 proxy.txt $SK bench train $m --budget table --device $DEV --fusion torch,auto --steps $PROXY_STEPS \
               --warmup 3 $PROXY_BATCH
           done ;;
    # older probes (not in the default set)
    kernels) run 200 kernels.txt $SK bench kernels --device $DEV --family sknet50 --batch 32,256 --pass fwd,fwd+bwd \
               --rounds 5 --format table --out "$OUT/kernels.md" ;;
    probe-cuda) run 120 probe.txt $PY tools/cuda_probe.py ;;
    host) run 120 probe.txt $PY tools/host_probe.py --device $DEV ;;
    *) echo "unknown step $s (allowed: tests sk-bf16 mbv2-bf16 sk-fp32 batch1 shuf-bf16 compile probe" \
            "mbv2-dilated proxy kernels probe-cuda host)"; exit 2 ;;
  esac
done
echo "total $(( $(date +%s) - START )) s" | tee -a "$OUT/env.txt"
