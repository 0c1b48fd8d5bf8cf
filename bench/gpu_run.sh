#!/usr/bin/env bash
# One device call: GPU tests of every Triton kernel, then gpu_bench's sections one by one
# (each writes its own JSON, so a section cut off by its timeout loses only itself).
# Usage on the GPU machine, from the repo root: bash bench/gpu_run.sh   (logs under $OUT)
# Knobs: T_TESTS (s for the tests), BATCH (gpu_bench --batch), SECTIONS ("name:seconds ...", " " for none), COMPILE=1
# (the torch.compile peers: minutes of compiling per section). On the first run (H200) the
# tests took 222 s with 14 workers, and every section with torch.compile outran 80-140 s.
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=. OUT=${OUT:-bench/results}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,memory.total --format=csv,noheader
python3 -c "import sys,torch,triton;print(sys.version.split()[0],'torch',torch.__version__,'triton',triton.__version__)"
t0=$SECONDS
PYTHONPATH=.:bench timeout ${T_TESTS:-300} python3 -m pytest -v -n ${WORKERS:-14} -p no:cacheprovider \
  -p no:benchmark -p instafail --timeout 90 --tb=short --durations=10 tests/test_triton.py tests/test_triton_inverted_residual.py tests/test_triton_se.py \
  tests/test_triton_se_block.py "tests/test_inference.py" -k "triton or cuda or se or gpu" \
  >"$OUT/tests.log" 2>&1
echo "tests rc=$? in $((SECONDS - t0)) s"; grep -E "passed|failed|error" "$OUT/tests.log" | tail -3
grep -E "FAILED|ERROR" "$OUT/tests.log" | head -20
for s in ${SECTIONS:-latency:150 ops:150}; do
  name=${s%%:*}; lim=${s##*:}; t0=$SECONDS; extra=""
  [ "${COMPILE:-0}" = 1 ] || extra="--no-compile"
  timeout "$lim" python3 bench/gpu_bench.py --sections "$name" --batch ${BATCH:-256} $extra >"$OUT/$name.log" 2>&1
  echo "== $name rc=$? in $((SECONDS - t0)) s"; grep -v -E "Warning|warn" "$OUT/$name.log" | tail -${TAIL:-45}
done
