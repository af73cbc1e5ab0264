"""Measure a model's prompt adherence on held-out synthetic scenes (the demo model's test).

    python scripts/demo_evaluate.py runs/demo_full/checkpoint.pt --cases 24 --guidance 0 1 3
    python scripts/demo_evaluate.py glide_studio/resources/demo/demo_inpaint.pt --grid runs/grid.png

Accepts a training checkpoint (evaluates its EMA weights, or ``--raw`` for the
trained ones) or an exported model file with its manifest beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from glide_studio.core.diffusion import Diffusion
from glide_studio.core.model import build_model
from glide_studio.core.text.tokenizer import load_tokenizer
from glide_studio.core.training import read_training_state
from glide_studio.core.training.evaluation import heldout_cases, measure_adherence
from glide_studio.core.weights.checkpoints import load_model


def load(path: Path, *, raw: bool, device: str = "cpu") -> tuple[torch.nn.Module, dict, str, int | None]:
    if path.suffix == ".pt" and path.with_suffix(".json").is_file():
        manifest = json.loads(path.with_suffix(".json").read_text())
        model = load_model(path, manifest["options"], device=device, dtype=torch.float32)
        return model, manifest["options"], manifest["tokenizer"], manifest["training"]["steps"]
    state = read_training_state(path)
    model = build_model(state["options"])
    model.load_state_dict(state["model" if raw else "ema"])
    model = model.to(device).eval().requires_grad_(False)
    return model, state["options"], state["tokenizer"], state["step"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", type=Path)
    parser.add_argument("--cases", type=int, default=24)
    parser.add_argument("--guidance", type=float, nargs="+", default=[0.0, 1.0, 3.0])
    parser.add_argument("--steps", default="25", help="respacing for sampling")
    parser.add_argument("--sampler", default="ddim")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--raw", action="store_true", help="training weights instead of the EMA")
    parser.add_argument("--grid", type=Path, default=None, help="save inputs and results as a PNG")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the adherence figures differ little)")
    parser.add_argument("--record", action="store_true", help="store the results in the model's manifest")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, options, kind, step = load(args.model, raw=args.raw, device=args.device)
    diffusion = Diffusion.from_options(options, respacing=args.steps)
    tokenizer = load_tokenizer(kind)
    cases = heldout_cases(args.cases, image_size=model.config.image_size)
    rows = [np.concatenate([c.image for c in cases], axis=1)]
    report = {"model": str(args.model), "step": step, "sampler": args.sampler, "steps": args.steps}
    for scale in args.guidance:
        start = time.perf_counter()
        result = measure_adherence(
            model,
            diffusion=diffusion,
            tokenizer=tokenizer,
            cases=cases,
            guidance=scale,
            sampler=args.sampler,
            seed=args.seed,
        )
        report[f"g{scale:g}"] = {
            "centre": result.rate,
            "hole": result.hole_rate,
            "s": round(time.perf_counter() - start, 1),
        }
        levels = (result.samples.permute(0, 2, 3, 1).cpu().numpy() + 1) * 127.5
        images = levels.round().clip(0, 255).astype(np.uint8)
        rows.append(np.concatenate(list(images), axis=1))
        misses = [
            f"{c.prompt}->{f}" for c, f, h in zip(cases, result.found, result.hits, strict=True) if not h
        ]
        report[f"g{scale:g}"]["misses"] = misses[:8]
    print(json.dumps(report))
    if args.record:
        manifest_path = args.model.with_suffix(".json")
        manifest = json.loads(manifest_path.read_text())
        manifest["evaluation"] = {
            "what": "held-out synthetic scenes, a centred square hole half the image wide, prompts "
            "'a <colour> <shape>' naming a colour other than the scene's; a hit when the mean colour "
            "of the hole's centre (half its side) is nearest the prompted colour among the palette",
            "command": "python scripts/demo_evaluate.py " + " ".join(sys.argv[1:]),
            "cases": args.cases,
            **{k: v for k, v in report.items() if k.startswith("g") or k in ("sampler", "steps")},
        }
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    if args.grid is not None:
        from PIL import Image

        grid = np.concatenate(rows, axis=0)
        Image.fromarray(grid).resize((grid.shape[1] * 4, grid.shape[0] * 4), Image.NEAREST).save(args.grid)
        print("prompts:", "; ".join(c.prompt for c in cases))


if __name__ == "__main__":
    main()
