#!/usr/bin/env bash
# The latency figures of reports/latency.md on one machine (a quiet host, a lent GPU machine).
#   ratio: bench latency mobilenetv2_100_sk mobilenetv2_100_se --vs mobilenetv2_100 (onnxruntime, 1 thread), RUNS times
#   check: bench latency --build-table --check on every light model (onnxruntime, 1 thread), RUNS times
#   cuda:  bench latency mobilenetv2_100_sk mobilenetv2_100_se --vs mobilenetv2_100 under torch on cuda
# Every step runs pinned to one CPU this process may use (CPU=N, default the last of them), nothing else
# of this script beside it. Logs and tables go to $OUT (default: a new temporary folder, printed at the
# end); nothing is left in the working tree. PYTHON (default python3) must import skmobile's dependencies.
# Usage: [OUT=dir] [CPU=n] [RUNS=3] bash tools/latency_check.sh [ratio] [check] [cuda]   (default: ratio check)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
steps=${*:-ratio check}
for step in $steps; do
  case $step in ratio|check|cuda) ;; *) echo "error: unknown step '$step'; allowed: ratio, check, cuda" >&2; exit 2 ;; esac
done
made=()
cleanup() { for link in "${made[@]}"; do rm -f "$link"; done; }
trap cleanup EXIT
if ! "$PY" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("skmobile.kernels") is None)' 2>/dev/null; then   # not installed: run from the tree
  for d in kernels search; do
    [ -e "skmobile/$d" ] || { ln -s "../$d" "skmobile/$d" && made+=("skmobile/$d"); }
  done
  export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
fi
cpus=$("$PY" -c 'import os; print(" ".join(map(str, sorted(os.sched_getaffinity(0)))))') || exit 1
CPU=${CPU:-${cpus##* }}
case " $cpus " in
  *" $CPU "*) ;;
  *) echo "error: CPU=$CPU is not one this process may use; allowed: $cpus" >&2; exit 2 ;;
esac
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/latency-out.XXXXXX")}
mkdir -p "$OUT" || exit 1
export PYTHONUNBUFFERED=1 SKMOBILE_LATENCY_CACHE=$OUT/cache.sqlite
sk() { taskset -c "$CPU" "$PY" -m skmobile "$@"; }
{ echo "CPUs allowed: $cpus; pinned to $CPU"; nproc; lscpu 2>/dev/null | grep -E 'Model name|Thread|Core|Socket'
  "$PY" -c 'from importlib.metadata import version as v; print("torch", v("torch"), "onnxruntime", v("onnxruntime"))'
} 2>&1 | tee "$OUT/machine.txt"
for step in $steps; do
  for i in $(seq "${RUNS:-3}"); do
    echo "== $step $i: $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
    case $step in
      ratio) sk bench latency mobilenetv2_100_sk mobilenetv2_100_se --vs mobilenetv2_100 --runtime onnxruntime --threads 1 ;;
      check) sk bench latency --build-table --check --runtime onnxruntime --threads 1 --table "$OUT/table_$i.json" \
               --report "$OUT/check_$i.md" ;;
      cuda)  sk bench latency mobilenetv2_100_sk mobilenetv2_100_se --vs mobilenetv2_100 --runtime torch --device cuda ;;
    esac
  done 2>&1 | tee "$OUT/$step.txt"
  [ "${PIPESTATUS[0]}" = 0 ] || exit 1
done
echo "logs in $OUT"
