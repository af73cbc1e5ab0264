#!/usr/bin/env bash
# Fine-tune the demo base model with a few recipes at once and keep the one that obeys best.
#
#   OUT=/tmp/search bash scripts/demo_base_search.sh           # on a CUDA machine (minutes)
#   DEVICE=cpu STEPS_SCALE=0.01 bash scripts/demo_base_search.sh # a CPU smoke run
#
# Each recipe continues the shipped demo model (--init) on new scenes (seed 1) with
# `glide-studio train`, in parallel (the scenes are drawn on the CPU, one process
# each); each result is scored by `scripts/demo_evaluate.py` on 96 held-out cases
# with the studio's sampling for the demo (ancestral, 50 steps, guidance 3).
# Writes under $OUT: results.jsonl (one line per recipe), best.pt and best.json
# (the best recipe's exported weights and manifest), search.log.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/runs/base-search}
DEVICE=${DEVICE:-cuda}
PY=${GLIDE_PYTHON:-python3}
SCALE=${STEPS_SCALE:-1}
CASES=${CASES:-96}
WORK=${WORK:-/tmp/base-search}
mkdir -p "$OUT" "$WORK"
LOG="$OUT/search.log"
: >"$LOG"
: >"$OUT/results.jsonl"
INIT=glide_studio/resources/demo/demo_inpaint.pt
COMMON=(--data synthetic --init "$INIT" --text-lr-scale 0 --ema 0.999 --grad-clip 1.0 --vb-weight 0.001
  --masks object=0.6,rectangle=0.12,brush=0.1,outpaint=0.08,whole=0.1 --model-options demo32
  --seed 1 --save-every 1000 --log-every 100 --device "$DEVICE" --no-progress)
steps() { "$PY" -c "print(max(2, round($1 * $SCALE)))"; }

declare -A RECIPES=(
  [a]="--steps $(steps 4000) --batch-size 32 --lr 5e-4 --warmup 100 --min-lr-ratio 0.05 --high-noise-fraction 0.5 --high-noise-start 0.9 --caption-drop 0.2"
  [b]="--steps $(steps 2500) --batch-size 64 --lr 1e-3 --warmup 100 --min-lr-ratio 0.05 --high-noise-fraction 0.5 --high-noise-start 0.9 --caption-drop 0.2"
  [c]="--steps $(steps 4000) --batch-size 32 --lr 5e-4 --warmup 100 --min-lr-ratio 0.05 --high-noise-fraction 0.7 --high-noise-start 0.8 --caption-drop 0.1"
)

for name in "${!RECIPES[@]}"; do
  # shellcheck disable=SC2086
  (
    start=$(date +%s)
    "$PY" -m glide_studio.cli train --out "$WORK/$name" ${RECIPES[$name]} "${COMMON[@]}" \
      --export "$WORK/$name/demo_inpaint.pt" >"$WORK/$name.train.log" 2>&1 || exit 1
    trained=$(($(date +%s) - start))
    "$PY" scripts/demo_evaluate.py "$WORK/$name/demo_inpaint.pt" --cases "$CASES" --guidance 3 \
      --steps 50 --sampler ancestral --device "$DEVICE" --threads 4 >"$WORK/$name.eval.json" 2>>"$WORK/$name.train.log" || exit 1
    "$PY" - "$name" "$trained" "${RECIPES[$name]}" "$WORK/$name.eval.json" >>"$OUT/results.jsonl" <<'PYEOF'
import json, sys
name, seconds, recipe, path = sys.argv[1:5]
report = json.loads(open(path).read())
print(json.dumps({"recipe": name, "args": recipe, "train_s": int(seconds), "g3": report["g3"]}))
PYEOF
  ) &
done
wait
for name in "${!RECIPES[@]}"; do
  echo "== $name" >>"$LOG"
  tail -n 5 "$WORK/$name.train.log" >>"$LOG"
done
"$PY" - "$OUT" "$WORK" <<'PYEOF' | tee -a "$LOG"
import json, shutil, sys
from pathlib import Path
out, work = Path(sys.argv[1]), Path(sys.argv[2])
rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
for row in sorted(rows, key=lambda r: r["recipe"]):
    print(f"{row['recipe']}: centre {row['g3']['centre']:.3f} hole {row['g3']['hole']:.3f} "
          f"train {row['train_s']} s  {row['args']}")
if rows:
    best = max(rows, key=lambda r: (r["g3"]["centre"], r["g3"]["hole"]))
    print("best:", best["recipe"])
    shutil.copy(work / best["recipe"] / "demo_inpaint.pt", out / "best.pt")
    shutil.copy(work / best["recipe"] / "demo_inpaint.json", out / "best.json")
PYEOF
