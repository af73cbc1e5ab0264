#!/usr/bin/env bash
# GPU readiness check, one prepared run (an estimated 5 to 7 minutes on one H100; all steps
# together are cut off at $GLIDE_CHECK_BUDGET seconds, 540 by default, so it fits one 600 s call).
#
#   bash benchmarks/gpu_check.sh            # from the repository root, on a CUDA machine
#
# 1. the interpreter: $GLIDE_PYTHON if set; else a plain `python3` that already imports torch,
#    numpy, PIL, regex, tqdm and pytest (the lent GPU machines: no network, nothing installed,
#    the project used from this folder through PYTHONPATH); else a virtual environment with
#    the project and its test tools (pip install -e ".[test]");
# 2. the reference-fixture tests on cuda (tests/core/test_precision.py, test_cancel.py), in
#    float32 (TF32 off), float16 and bfloat16. Tolerances (TOLERANCES in test_precision.py):
#      float32   forward 1e-4, loops 3e-4 largest absolute difference (measured 1.42e-4 on an
#                H100: the loops magnify the summation order of any kernel but the recording
#                CPU's; 1.51e-4 on a CPU in the channels-last layout too)
#      float16   forward 0.03, loops 2.5 levels (0-255) mean (measured 1.71 on an H100)
#      bfloat16  forward 0.15, loops 4 levels mean
#    each loop's measured figure is printed and lands in the summary;
# 3. float16 against float32 over whole sampling runs (tiny reference-shaped models and the
#    demo model, default preset, same noise);
# 4. per-forward and whole-edit times of the full-size random weights in float16, with peak
#    GPU memory: once cold (the first run pays cuDNN's algorithm search), once with each run
#    prepared first as the studio does while the user types (edit_speed.py --prepare);
# 5. side by side on this card (gpu_side_by_side.py): this project's eager step, its CUDA-graph
#    replay and GLIDE's released code (float16, its own model call and sampling loop) on the
#    same weights: base and upsampler forwards, a whole Balanced edit of 4 candidates with graphs
#    off and on (and how far their pixels are apart), a live update, ratios and the issue 27
#    targets; then torch.compile of the step (compiled graph against the plain graph).
#    The reference code: $GLIDE_REFERENCE_SRC, else .gpu-ref/glide-text2im, else
#    ../shared/glide-text2im (each a folder holding the glide_text2im package), else a clone from
#    GitHub where the network allows; without it the reference rows are skipped and said so.
#    On a lent GPU machine (no network) carry it:
#      mkdir -p .gpu-ref/glide-text2im && git --git-dir=/work/.mirror/openai+glide-text2im/repo \
#        archive HEAD glide_text2im | tar -x -C .gpu-ref/glide-text2im
# Each step has its own time limit; a failed step is recorded and the next one still runs.
#
# Under $OUT (default ./gpu-check-out) it writes three files, rewritten after every step so
# that a run cut short still leaves them: summary.txt (what to read), gpu_check.json (every
# step's status and time, the environment, the tests' outcomes and loop figures, each
# benchmark's JSON, the last lines of each failed step's output) and gpu_check.log (all
# output). Per-step files stay in a scratch folder.
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
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
LOG="$OUT/gpu_check.log"
: >"$LOG"
STEPS="$WORK/steps.tsv"
: >"$STEPS"
WEIGHTS=${GLIDE_RANDOM_WEIGHTS:-/tmp/glide-random-weights}
[[ -d .gpu-ref/glide_reference ]] && export GLIDE_REFERENCE_DIR=${GLIDE_REFERENCE_DIR:-$PWD/.gpu-ref/glide_reference}
DEV=${GLIDE_CHECK_DEVICE:-cuda}
QUICK=${GLIDE_CHECK_QUICK:-}
LOW=float16
[[ "$DEV" == cpu ]] && LOW=bfloat16 # half precision on a CPU dry run: the one CPUs run fast
if [[ -n "$QUICK" ]]; then CASES=(--cases 1 --tiny-cases 1); else CASES=(--cases 8 --tiny-cases 4); fi
BUDGET=${GLIDE_CHECK_BUDGET:-540}
SLOW=1 # the step limits below are the GPU's; a CPU dry run (two busy cores) gets four times each
[[ "$DEV" == cpu ]] && BUDGET=${GLIDE_CHECK_BUDGET:-1200} && SLOW=4
DEADLINE=$(($(date +%s) + BUDGET))

cat >"$WORK/summarize.py" <<'PYEOF'
"""Fold every step's result into $OUT/gpu_check.json and $OUT/summary.txt (standard library only)."""
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

work, out, budget = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]


def load(name):
    try:
        return json.loads((work / name).read_text())
    except (OSError, ValueError):
        return None


def tail(name, lines=25):
    try:
        return (work / name).read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def ms(value):
    return f"{value:.1f} ms" if isinstance(value, (int, float)) else "-"


def side_by_side_lines(sbs, comp):
    """The graph/eager/reference figures and ratios (gpu_side_by_side.py), a few lines."""
    if not sbs:
        return []
    lines = [f"side by side on {(sbs.get('machine') or {}).get('cuda') or sbs.get('device')} ({sbs.get('precision')}):"]
    ref = sbs.get("reference")
    ref_forward = {r["model"]: r for r in ref.get("forward", [])} if isinstance(ref, dict) else {}
    for row in sbs.get("forward", []):
        r = ref_forward.get(row["model"], {})
        lines.append(
            f"  forward {row['model']} x{row['rows']}: eager {ms(row.get('eager_ms'))}, graph {ms(row.get('graph_ms'))}"
            f" (max diff {row.get('graph_max_abs_diff')}), reference {ms(r.get('reference_ms'))}"
            + (f", graph failed: {row['graph_failed']}" if row.get("graph_failed") else "")
        )
    edit = sbs.get("edit") or {}
    for key in ("eager", "graphs"):
        e = edit.get(key) or {}
        if e:
            lines.append(
                f"  {edit.get('preset')} x{edit.get('candidates')}, {key}: {e['seconds']:.3f} s,"
                f" first preview {1000 * e['first_preview_s']:.0f} ms, graph hits {e.get('graph_hits')}"
            )
    if edit.get("graphs_vs_eager_pixels"):
        p = edit["graphs_vs_eager_pixels"]
        lines.append(f"  graphs vs eager pixels: mean {p['mean_levels']:.3f} levels, max {p['max_levels']}")
    live = sbs.get("live") or {}
    if live:
        lines.append(f"  live update (live preset, 1 candidate, graphs): {live['seconds']:.3f} s of model time")
    if isinstance(ref, dict):
        lines.append(f"  reference edit ({ref['edit']['steps']}, x{ref['edit']['candidates']}): {ref['edit']['seconds']:.3f} s")
        ratios = sbs.get("ratios") or {}
        lines.append("  ratios (project / reference): " + ", ".join(
            f"{k} {v:.2f}" for k, v in ratios.items() if isinstance(v, float)))
        lines.append(f"  targets (H100) met: {ratios.get('targets_met')}")
    elif ref:
        lines.append(f"  reference: {ref}")
    for row in (comp or {}).get("forward", []):
        lines.append(
            f"  compile {row['model']} x{row['rows']}: plain graph {ms(row.get('plain_graph_ms_same_check'))},"
            f" compiled graph {ms(row.get('compiled_graph_ms'))}, kept {row.get('compiled_kept')},"
            f" {row.get('compile_and_capture_s') or 0:.0f} s to compile {row.get('compile_failed') or ''}"
        )
    return lines


steps = []
for line in (work / "steps.tsv").read_text().splitlines():
    name, rc, seconds = line.split("\t")
    step = {"name": name, "rc": rc, "seconds": int(seconds)}
    if rc not in ("0", "skipped"):
        step["output_tail"] = tail(f"{name}.log")
    steps.append(step)
summary = {"budget_s": int(budget), "steps": steps}
for key in ("environment", "closeness", "forward", "edit", "edit_prepared", "side_by_side", "compile"):
    summary[key] = load(f"{key}.json")

tests = None
try:
    root = ET.parse(work / "reference_tests.xml").getroot()
    tests = {"passed": 0, "failed": 0, "skipped": 0, "failures": [], "skips": []}
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            tests["failed"] += 1
            tests["failures"].append({"test": name, "message": (problem.get("message") or "")[:600]})
        elif case.find("skipped") is not None:
            tests["skipped"] += 1
            tests["skips"].append({"test": name, "message": (case.find("skipped").get("message") or "")[:300]})
        else:
            tests["passed"] += 1
except (OSError, ET.ParseError):
    pass
figures = []
for line in tail("reference_tests.log", 100000):
    if re.match(r"^(cuda|cpu)\S* \w+ .+: (mean levels|largest difference) \S+ \(bound ", line):
        if line not in figures:
            figures.append(line)
summary["reference_tests"] = tests
summary["loop_figures"] = figures
(out / "gpu_check.json").write_text(json.dumps(summary, indent=2))

env = summary["environment"] or {}
text = [
    f"device: {env.get('device')}  torch {env.get('torch')}  cuda {env.get('cuda')}  python {env.get('python')}",
    f"steps (all cut off at {budget} s):",
]
for step in steps:
    rc = step["rc"]
    state = {"0": "ok", "skipped": "skipped", "124": "TIMED OUT", "137": "TIMED OUT"}.get(rc, f"FAILED rc={rc}")
    text.append(f"  {step['name']:24s} {state:14s} {step['seconds']:>4d} s")
if tests is not None:
    text.append(f"reference tests: {tests['passed']} passed, {tests['failed']} failed, {tests['skipped']} skipped")
    text += [f"  FAILED {f['test']}: {f['message'].splitlines()[0] if f['message'] else ''}" for f in tests["failures"]]
    text += [f"  skipped {f['test']}: {f['message']}" for f in tests["skips"]]
text += [f"  {line}" for line in figures]
closeness = summary["closeness"] or {}
for r in closeness.get("results", []):
    text.append(
        f"{closeness.get('dtype')} vs float32, {r['model']} {r['preset']}: mean {r['mean_levels']:.3f} levels,"
        f" p99 {r['p99_levels']:.1f}, max {r['max_levels']:.0f}"
    )
for m in (summary["forward"] or {}).get("models", []):
    text.append(
        f"forward {m['model']} batch {m['batch']} ({m.get('dtype')}): {m['denoise']['median_s'] * 1000:.1f} ms"
        f" ({m['achieved_gflops'] / 1000:.1f} TFLOP/s)"
    )
for key in ("edit", "edit_prepared"):
    edit = summary[key] or {}
    if edit:
        text.append(f"{key}: load {edit['load_seconds']:.1f} s ({edit.get('precision')})")
    for run in edit.get("runs", []):
        prepared = f", prepared in {run['prepare_s']:.2f} s before" if run.get("prepare_s") is not None else ""
        text.append(
            f"  {run['preset']}: {run['seconds']:.2f} s, first preview {run['first_preview_s']:.2f} s{prepared},"
            f" peak GPU {run.get('peak_cuda_mb', 0):.0f} MB"
        )
text += side_by_side_lines(summary["side_by_side"], summary["compile"])
for step in steps:
    if "output_tail" in step:
        text.append(f"--- {step['name']} ({step['rc']}), last lines:")
        text += [f"    {line}" for line in step["output_tail"] or ["(no output)"]]
(out / "summary.txt").write_text("\n".join(text) + "\n")
PYEOF

summarize() { # rewrite $OUT/summary.txt and gpu_check.json from what the steps left so far
  "$PY" "$WORK/summarize.py" "$WORK" "$OUT" "$BUDGET" >>"$LOG" 2>&1 || cp "$STEPS" "$OUT/summary.txt"
}

run_step() { # run_step NAME SECONDS STDOUT_FILE|- COMMAND...
  local name=$1 limit=$2 stdout=$3 start rc left
  shift 3
  limit=$((limit * SLOW))
  left=$((DEADLINE - $(date +%s)))
  ((limit > left)) && limit=$left
  if ((limit < 10)); then
    echo "== $name skipped: the check's ${BUDGET} s are spent" | tee -a "$LOG"
    printf '%s\tskipped\t0\n' "$name" >>"$STEPS"
    summarize
    return 0
  fi
  echo "== $name (limit ${limit}s)" | tee -a "$LOG"
  start=$(date +%s)
  if [[ "$stdout" == - ]]; then
    timeout -k 5 "$limit" "$@" 2>&1 | tee "$WORK/$name.log" >>"$LOG"
  else
    { timeout -k 5 "$limit" "$@" >"$stdout"; } 2>&1 | tee "$WORK/$name.log" >>"$LOG"
  fi
  rc=${PIPESTATUS[0]}
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(($(date +%s) - start))" | tee -a "$STEPS"
  summarize
  return 0
}
step() { run_step "$1" "$2" - "${@:3}"; }
step_json() { run_step "$1" "$2" "$WORK/$1.json" "${@:3}"; }

if [[ -n "${GLIDE_PYTHON:-}" ]]; then
  PY=$GLIDE_PYTHON
elif python3 -c "import torch, numpy, PIL, regex, tqdm, pytest" 2>/dev/null; then
  PY=python3 # everything the check imports is there (the lent GPU machines): no venv, no pip
else
  VENV=${GLIDE_CHECK_VENV:-/tmp/glide-gpu-venv}
  [[ -x "$VENV/bin/python" ]] || python3 -m venv --system-site-packages "$VENV"
  PY=$VENV/bin/python
  step install 240 "$PY" -m pip install -q -e ".[test]"
fi
# This folder's package first, whatever is installed (also where nothing is).
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
summarize

step_json environment 60 "$PY" - "$DEV" <<'PYEOF'
import importlib.util, json, platform, subprocess, sys
import torch
import glide_studio


def absent(module):
    try:
        return importlib.util.find_spec(module) is None
    except ImportError:
        return True


info = {
    "python": platform.python_version(),
    "executable": sys.executable,
    "glide_studio": glide_studio.__file__,
    "torch": torch.__version__,
    "cuda": torch.version.cuda,
    "available": torch.cuda.is_available(),
    "absent_packages": [m for m in ("platformdirs", "png", "PySide6", "pytestqt", "ray") if absent(m)],
}
if torch.cuda.is_available():
    info["device"] = torch.cuda.get_device_name(0)
    info["capability"] = torch.cuda.get_device_capability(0)
    info["memory_gb"] = torch.cuda.get_device_properties(0).total_memory / 2**30
else:
    info["device"] = platform.processor() or platform.machine()
try:
    info["nvidia_smi"] = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout.strip()
except OSError:
    pass
print(json.dumps(info, indent=2))
if sys.argv[1] == "cuda" and not torch.cuda.is_available():
    sys.exit("no CUDA device visible to torch")  # recorded; the CPU dry run goes on
PYEOF

# CI=1: missing reference data fails these tests instead of skipping them (tests/reference_data.py).
step reference_tests 150 env CI=1 GLIDE_TEST_DEVICE="$DEV" "$PY" -m pytest -q -rfEsP -p no:cacheprovider \
  tests/core/test_precision.py tests/core/test_cancel.py --junitxml="$WORK/reference_tests.xml"

step_json closeness 120 "$PY" benchmarks/precision_closeness.py --device "$DEV" --dtype "$LOW" \
  --models demo,tiny "${CASES[@]}"

REF_SRC=""
for candidate in "${GLIDE_REFERENCE_SRC:-}" .gpu-ref/glide-text2im ../shared/glide-text2im; do
  if [[ -n "$candidate" && -d "$candidate/glide_text2im" ]]; then REF_SRC=$candidate; break; fi
done
if [[ -z "$REF_SRC" && -z "$QUICK" ]] &&
  timeout 60 git clone -q --depth 1 https://github.com/openai/glide-text2im "$WORK/glide-text2im" >>"$LOG" 2>&1; then
  REF_SRC=$WORK/glide-text2im
fi
echo "reference code: ${REF_SRC:-none found}" | tee -a "$LOG"
REF_ARGS=()
[[ -n "$REF_SRC" ]] && REF_ARGS=(--reference-src "$REF_SRC")

if [[ -z "$QUICK" ]]; then
  step write_random_weights 120 "$PY" benchmarks/edit_speed.py --write-weights-only --weights-dir "$WEIGHTS"
  step_json side_by_side 150 "$PY" benchmarks/gpu_side_by_side.py --device "$DEV" --weights-dir "$WEIGHTS" \
    --candidates 4 "${REF_ARGS[@]}"
  step_json forward 90 "$PY" benchmarks/forward_speed.py --device "$DEV" --repeat 10 --candidates 1,4
  step_json edit 150 "$PY" benchmarks/edit_speed.py --device "$DEV" --presets balanced,balanced,fast,release \
    --weights-dir "$WEIGHTS"
  # As the studio runs it: each run prepared while the user types (the first one pays no warm-up).
  step_json edit_prepared 90 "$PY" benchmarks/edit_speed.py --device "$DEV" --presets balanced,fast --prepare \
    --weights-dir "$WEIGHTS"
  # Last: compiling the full UNet takes minutes the first time (then inductor's disk cache).
  step_json compile 120 "$PY" benchmarks/gpu_side_by_side.py --device "$DEV" --weights-dir "$WEIGHTS" \
    --candidates 4 --parts forward --compile
fi

summarize
cat "$OUT/summary.txt"
rm -rf "$WORK"
