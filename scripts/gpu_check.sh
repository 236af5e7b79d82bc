#!/usr/bin/env bash
# One prepared GPU check, for the rare machine with a CUDA GPU and CuPy: under 8 minutes, it
# writes logs and a short summary into OUT_DIR (the parts' limits add up to 470 s).
#
#   scripts/gpu_check.sh OUT_DIR
#
#   device     the GPU's name, driver, CuPy and CUDA versions            (device.txt)
#   pytest     pytest -m gpu: the CUDA tests on real CuPy               (pytest.log)
#   train      a tiny examples/train_lfwa.py --device cuda run          (train_lfwa.log)
#   ops        benchmarks/bench_ops.py --device cuda                    (bench_ops.log)
#   step       benchmarks/bench_train_step.py --device cuda             (bench_train_step.log)
#              (skipped, and bench_ops run --no-torch, without a CUDA PyTorch)
#   summary    all of the above in a few lines                          (summary.md)
#
# Each part runs under `timeout`, so one hang cannot eat the budget; a failed part is
# reported and the next one runs. Exit status: 0 when every part passed, 1 when one failed,
# 2 when there is no usable GPU (nothing else is run).
set -uo pipefail

if [ "$#" -ne 1 ]; then
    echo "usage: scripts/gpu_check.sh OUT_DIR" >&2
    exit 64
fi
cd "$(dirname "$0")/.." || exit 1
mkdir -p "$1" || exit 1
OUT=$(cd "$1" && pwd)
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PYTHON=${PYTHON:-python}
STATUS_FILE="$OUT/status.txt"
: > "$STATUS_FILE"

# run_part NAME SECONDS COMMAND...: run COMMAND with a time limit, its output in NAME.log.
run_part() {
    local name=$1 limit=$2
    shift 2
    local start=$SECONDS
    echo "gpu_check: $name (at most ${limit} s) ..."
    timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    local took=$((SECONDS - start))
    if [ "$rc" -eq 0 ]; then
        echo "$name ok ${took}s" >> "$STATUS_FILE"
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "$name TIMEOUT ${took}s (limit ${limit}s)" >> "$STATUS_FILE"
    else
        echo "$name FAILED rc=$rc ${took}s" >> "$STATUS_FILE"
    fi
    tail -n 3 "$OUT/$name.log"
    return "$rc"
}

if ! run_part device 40 "$PYTHON" - <<'EOF'
import cupy

runtime = cupy.cuda.runtime
count = runtime.getDeviceCount()
props = runtime.getDeviceProperties(0)
name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
version = lambda v: f"{v // 1000}.{v % 1000 // 10}"
print(f"device: {name} ({count} visible), {props['totalGlobalMem'] / 2**30:.0f} GiB")
print(f"driver: CUDA {version(runtime.driverGetVersion())}")
print(f"CUDA runtime: {version(runtime.runtimeGetVersion())}")
print(f"CuPy: {cupy.__version__}")
cupy.zeros(1).sum()           # one allocation and one kernel: the GPU really works
EOF
then
    echo "gpu_check: no usable CUDA GPU with CuPy here (see $OUT/device.txt); nothing else run" >&2
    mv "$OUT/device.log" "$OUT/device.txt"
    exit 2
fi
mv "$OUT/device.log" "$OUT/device.txt"

failed=0
run_part pytest 150 "$PYTHON" -m pytest -m gpu -q -p no:cacheprovider || failed=1
run_part train_lfwa 70 "$PYTHON" examples/train_lfwa.py --device cuda --epochs 1 \
    --train-size 64 --test-size 32 --width 16 --image-size 64 --batch-size 16 --workers 0 \
    --out "$OUT/train_lfwa_run" || failed=1
# The benchmarks compare with PyTorch when it can use the GPU; bench_train_step needs it.
if timeout 20 "$PYTHON" -c "import sys, torch; sys.exit(not torch.cuda.is_available())" \
        > /dev/null 2>&1; then
    torch_flag=()
else
    torch_flag=(--no-torch)
fi
run_part bench_ops 90 "$PYTHON" benchmarks/bench_ops.py --device cuda --batch 32 --size 112 \
    --repeats 5 --no-save ${torch_flag[@]+"${torch_flag[@]}"} || failed=1
if [ "${#torch_flag[@]}" -eq 0 ]; then
    run_part bench_train_step 100 "$PYTHON" benchmarks/bench_train_step.py --device cuda \
        --steps 5 --out "$OUT" || failed=1
else
    echo "bench_train_step skipped: it needs PyTorch with CUDA" >> "$STATUS_FILE"
fi

"$PYTHON" - "$OUT" <<'EOF' > "$OUT/summary.md"
import glob
import json
import os
import re
import sys

out = sys.argv[1]
read = lambda name: open(os.path.join(out, name)).read() if os.path.exists(
    os.path.join(out, name)) else ""
print("# GPU check\n")
print(read("device.txt").strip().replace("\n", "  \n"))
print("\n## Parts\n")
for line in read("status.txt").splitlines():
    print(f"- {line}")
tests = re.findall(r"^=*\s*(.*(?:passed|failed|error).*?)\s*=*$", read("pytest.log"), re.M)
print(f"\npytest -m gpu: {tests[-1] if tests else 'no summary line (see pytest.log)'}")
steps = sorted(glob.glob(os.path.join(out, "train_step_cuda_*.json")))
if steps:
    step = json.load(open(steps[-1]))
    print(f"\nResNet18 training step, batch {step['batch']} at {step['size']}:")
    print(f"minifaceattr {step['ours']['seconds_per_step'] * 1000:.1f} ms/step, "
          f"PyTorch {step['torch']['seconds_per_step'] * 1000:.1f} ms/step, "
          f"ratio {step['time_ratio_ours_over_torch']:.2f}x")
else:
    print("\nResNet18 training step: no result (see bench_train_step.log)")
ops = [line for line in read("bench_ops.log").splitlines() if "ratio" in line or "ms" in line]
print("\n## Operators (bench_ops.py, last lines)\n")
print("\n".join(f"    {line}" for line in ops[-12:]) or "    no result (see bench_ops.log)")
EOF
cat "$OUT/summary.md"
exit "$failed"
