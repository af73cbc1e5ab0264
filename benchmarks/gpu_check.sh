#!/usr/bin/env bash
# GPU readiness check, one prepared run (under 8 minutes on one H100).
#
#   bash benchmarks/gpu_check.sh            # from the repository root, on a CUDA machine
#
# 1. installs the project into a virtual environment (pip install -e ".[test]";
#    --system-site-packages, so a CUDA torch already on the machine is used;
#    with no network, the machine's packages and this source folder serve),
#    unless $GLIDE_PYTHON names a ready interpreter;
# 2. the reference-fixture tests on cuda in float32 (1e-4, TF32 off), float16
#    and bfloat16 (tolerances in tests/core/test_precision.py: forward 0.03 /
#    0.15 absolute, loops 1.5 / 4 levels mean);
# 3. float16 against float32 over whole sampling runs (tiny reference-shaped
#    models and the demo model, default preset, same noise);
# 4. per-forward and whole-edit times of the full-size random weights in
#    float16, with peak GPU memory;
# and writes every result as JSON plus summary.txt under $OUT (default
# ./gpu-check-out). Each step has its own time limit; a failed step is
# recorded and the next one still runs.
#
# On a lent GPU machine (the device tool) the reference data beside the checkout does not
# travel; copy what the tests read into an ignored folder here and carry it:
#   mkdir -p .gpu-ref/glide_reference && echo /.gpu-ref/ >> .git/info/exclude
#   cp ../shared/glide_reference/*.pt ../shared/glide_reference/*.json .gpu-ref/glide_reference/
#   run: command "OUT=$OUT bash benchmarks/gpu_check.sh", carry [".gpu-ref"], timeout 540
#
# Dry run of the parts a CPU can do quickly (small cases, no full-size models):
#   GLIDE_PYTHON=.venv/bin/python GLIDE_CHECK_DEVICE=cpu GLIDE_CHECK_QUICK=1 bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
: >"$LOG"
STATUS="$OUT/steps.tsv"
: >"$STATUS"
WEIGHTS=${GLIDE_RANDOM_WEIGHTS:-/tmp/glide-random-weights}
[[ -d .gpu-ref/glide_reference ]] && export GLIDE_REFERENCE_DIR=${GLIDE_REFERENCE_DIR:-$PWD/.gpu-ref/glide_reference}
DEV=${GLIDE_CHECK_DEVICE:-cuda}
QUICK=${GLIDE_CHECK_QUICK:-}
LOW=float16
[[ "$DEV" == cpu ]] && LOW=bfloat16 # half precision on a CPU dry run: the one CPUs run fast
if [[ -n "$QUICK" ]]; then CASES=(--cases 1 --tiny-cases 1); else CASES=(--cases 8 --tiny-cases 4); fi

step() { # step NAME SECONDS COMMAND...
  local name=$1 limit=$2 start rc
  shift 2
  start=$(date +%s)
  echo "== $name (limit ${limit}s)" | tee -a "$LOG"
  timeout "$limit" "$@" >>"$LOG" 2>&1
  rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(($(date +%s) - start))" | tee -a "$STATUS"
  return 0
}

if [[ -n "${GLIDE_PYTHON:-}" ]]; then
  PY=$GLIDE_PYTHON
else
  VENV=${GLIDE_CHECK_VENV:-/tmp/glide-gpu-venv}
  [[ -x "$VENV/bin/python" ]] || python3 -m venv --system-site-packages "$VENV"
  PY=$VENV/bin/python
  # The lent GPU machines have no network but a CUDA torch, numpy, Pillow, regex, tqdm and
  # pytest: then the project goes in without its dependencies (it imports the others only where
  # this check never goes); elsewhere the project with its test tools.
  if "$PY" -c "import torch, numpy, PIL, regex, tqdm, pytest" 2>/dev/null; then
    step install 120 "$PY" -m pip install -q --no-deps --no-build-isolation -e .
  else
    step install 240 "$PY" -m pip install -q -e ".[test]"
  fi
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi

step environment 60 "$PY" - "$OUT/environment.json" <<'PYEOF'
import json, subprocess, sys, torch
info = {"torch": torch.__version__, "cuda": torch.version.cuda, "available": torch.cuda.is_available()}
if torch.cuda.is_available():
    info["device"] = torch.cuda.get_device_name(0)
    info["capability"] = torch.cuda.get_device_capability(0)
    info["memory_gb"] = torch.cuda.get_device_properties(0).total_memory / 2**30
try:
    info["nvidia_smi"] = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout.strip()
except OSError:
    pass
json.dump(info, open(sys.argv[1], "w"), indent=2)
print(info)
if not torch.cuda.is_available():
    sys.exit("no CUDA device visible to torch")  # recorded; the CPU dry run goes on
PYEOF

step reference_tests 150 env GLIDE_TEST_DEVICE="$DEV" "$PY" -m pytest -q -p no:cacheprovider \
  tests/core/test_precision.py tests/core/test_cancel.py --junitxml="$OUT/reference_tests.xml"

step closeness_fp16 120 sh -c "\"$PY\" benchmarks/precision_closeness.py --device $DEV --dtype $LOW \
  --models demo,tiny ${CASES[*]} > \"$OUT/closeness_fp16.json\""

if [[ -z "$QUICK" ]]; then
step write_random_weights 120 "$PY" benchmarks/edit_speed.py --write-weights-only --weights-dir "$WEIGHTS"

step forward_fp16 90 sh -c "\"$PY\" benchmarks/forward_speed.py --device $DEV --repeat 10 > \"$OUT/forward_fp16.json\""

step edit_fp16 120 sh -c "\"$PY\" benchmarks/edit_speed.py --device $DEV --presets balanced,balanced,fast,release \
  --weights-dir \"$WEIGHTS\" > \"$OUT/edit_fp16.json\""
fi

"$PY" - "$OUT" <<'PYEOF' | tee "$OUT/summary.txt"
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
def load(name):
    try:
        return json.loads((out / name).read_text())
    except (OSError, ValueError):
        return None
summary = {"steps": [line.split("\t") for line in (out / "steps.tsv").read_text().splitlines()]}
for key in ("environment", "closeness_fp16", "forward_fp16", "edit_fp16"):
    summary[key] = load(f"{key}.json")
(out / "gpu_check.json").write_text(json.dumps(summary, indent=2))
env = summary["environment"] or {}
print(f"device: {env.get('device')}  torch {env.get('torch')}  cuda {env.get('cuda')}")
for name, rc, seconds in summary["steps"]:
    print(f"  {name:24s} {'ok' if rc == '0' else 'FAILED rc=' + rc:12s} {seconds:>4s} s")
for r in (summary["closeness_fp16"] or {}).get("results", []):
    print(f"fp16 vs fp32, {r['model']} {r['preset']}: mean {r['mean_levels']:.3f} levels, p99 {r['p99_levels']:.1f}")
for m in (summary["forward_fp16"] or {}).get("models", []):
    print(f"forward {m['model']} batch {m['batch']}: {m['denoise']['median_s'] * 1000:.1f} ms"
          f" ({m['achieved_gflops'] / 1000:.1f} TFLOP/s)")
edit = summary["edit_fp16"] or {}
if edit:
    print(f"load {edit['load_seconds']:.1f} s")
for run in edit.get("runs", []):
    print(f"edit {run['preset']}: {run['seconds']:.2f} s, peak GPU {run.get('peak_cuda_mb', 0):.0f} MB")
PYEOF
