#!/usr/bin/env bash
# One call on a lent machine (quiet CPUs, a GPU): the issue-17 latency figures. Logs go to $OUT.
#   ratio:  bench latency mobilenetv2_100_sk --vs mobilenetv2_100 (onnxruntime, 1 thread), 3 runs, one core
#   table:  predictor tables + error on every light model (onnxruntime and torch, 1 thread), 4 shards
#           in parallel, each pinned to its own core (the shards share the L3: for the predictor's
#           cache term use the predictor step instead)
#   cuda:   torch on cuda, and onnxruntime on cuda (an error where it has no CUDA provider)
#   predictor: the predictor's error (layer sum + cache term) on every light model, one process per
#           runtime, one core, nothing else running beside it (the cache term's curve and the models
#           must see the same caches; layers and models are timed in the same rounds); RUNTIMES=onnxruntime
#           by default, CLOCK=wall, MODELS= a subset (default: every light model), CORE=2
# Usage: bash tools/latency_check.sh [ratio] [table] [cuda] [predictor]   (default: ratio table cuda)
set -uo pipefail
OUT=${OUT:-latency-out}; mkdir -p "$OUT"
steps=${*:-ratio table cuda}
export PYTHONUNBUFFERED=1
ln -sfn ../kernels skmobile/kernels; ln -sfn ../search skmobile/search
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD SKMOBILE_LATENCY_CACHE=$OUT/cache.sqlite
sk() { python3 -m skmobile "$@"; }
{ nproc; lscpu | grep -E 'Model name|Thread|Core|Socket|NUMA node'; python3 -c 'import torch, onnxruntime; print(torch.__version__, onnxruntime.__version__, onnxruntime.get_available_providers())'; } 2>&1 | tee "$OUT/machine.txt"
for s in $steps; do
  case $s in
    ratio) for i in $(seq ${RATIO_RUNS:-3}); do
             taskset -c 2 python3 -m skmobile bench latency mobilenetv2_100_sk --vs mobilenetv2_100 --runtime onnxruntime --threads 1
           done 2>&1 | tee "$OUT/ratio.txt" ;;
    table) shuf=$(python3 -c 'from skmobile.latency.predictor import light_models as l; print(" ".join(m for m in l() if m.startswith("shuffle")))')
           mob=$(python3 -c 'from skmobile.latency.predictor import light_models as l; print(" ".join(m for m in l() if m.startswith("mobile")))')
           for rt in ${RUNTIMES:-onnxruntime torch}; do
             c=$([ $rt = torch ] && echo 8 || echo 4)
             taskset -c $c timeout 330 python3 -m skmobile bench latency --build-table $shuf --runtime $rt --threads 1 \
               --max-seconds 20 --table "$OUT/table_${rt}_shufflenet.json" --report "$OUT/pred_${rt}_shufflenet.md" > "$OUT/log_${rt}_shufflenet.txt" 2>&1 &
             taskset -c $((c + 2)) timeout 330 python3 -m skmobile bench latency --build-table $mob --runtime $rt --threads 1 \
               --max-seconds 20 --table "$OUT/table_${rt}_mobilenet.json" --report "$OUT/pred_${rt}_mobilenet.md" > "$OUT/log_${rt}_mobilenet.txt" 2>&1 &
           done
           wait; tail -n 25 "$OUT"/log_*.txt ;;
    predictor)
           for rt in ${RUNTIMES:-onnxruntime}; do
             uptime | tee "$OUT/load_${rt}.txt"
             taskset -c ${CORE:-2} timeout ${PRED_TIMEOUT:-560} python3 -m skmobile bench latency --build-table ${MODELS:-} --runtime $rt \
               --threads 1 --clock ${CLOCK:-wall} --table "$OUT/predictor_${rt}.json" \
               --report "$OUT/predictor_${rt}.md" > "$OUT/predictor_log_${rt}.txt" 2>&1
             uptime | tee -a "$OUT/load_${rt}.txt"; tail -n 45 "$OUT/predictor_log_${rt}.txt"
           done ;;
    cuda) sk bench latency mobilenetv2_100_sk mobilenetv2_100_se --vs mobilenetv2_100 --runtime torch --device cuda 2>&1 | tee "$OUT/cuda.txt"
          sk bench latency mobilenetv2_100 --runtime onnxruntime --device cuda 2>&1 | tee -a "$OUT/cuda.txt"; echo "rc=${PIPESTATUS[0]}" | tee -a "$OUT/cuda.txt" ;;
  esac
done
