"""Measure the demo's two stages together through the studio's pipeline (colour and shape).

    python scripts/demo_evaluate_stages.py --cases 96 [--record] [--grid runs/stages.png]

Uses the demo models the package ships (or ``--folder``) with the sampling the
base model's manifest recommends (what the studio selects for the demo), or
``--upsample-steps``/``--upsample-sampler`` to try others. ``--record`` stores
the figures in the upsampler's manifest.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from glide_studio.core.generation.request import StageSettings
from glide_studio.core.runtime.engine import load_demo
from glide_studio.core.training.staged_evaluation import STAGED_SHAPES, measure_two_stage, staged_cases
from glide_studio.core.weights.bundled import DEMO_UPSAMPLER_MANIFEST, demo_folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=96)
    parser.add_argument("--folder", type=Path, default=None, help="a folder with the demo models")
    parser.add_argument("--upsample-steps", default=None)
    parser.add_argument("--upsample-sampler", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--shapes",
        nargs="+",
        default=list(STAGED_SHAPES),
        help="named shapes, in turn (hexagons read as round)",
    )
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--grid", type=Path, default=None, help="save the first 24 results as a PNG")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = args.folder or Path(str(demo_folder()))
    inpainter, manifest = load_demo(device=torch.device("cpu"), folder=folder, precision="float32")
    if inpainter.upsampler is None:
        raise SystemExit(f"no demo upsampler in {folder}")
    sampling = manifest["sampling"]
    base = StageSettings(sampler=sampling["sampler"], steps=str(sampling["steps"]))
    upsample = StageSettings(
        sampler=args.upsample_sampler or sampling.get("upsample_sampler", "ancestral"),
        steps=args.upsample_steps or str(sampling.get("upsample_steps", "fast27")),
    )
    guidance = float(sampling["guidance_scale"])
    cases = staged_cases(args.cases, image_size=inpainter.upsampler.resolution, shapes=args.shapes)
    result = measure_two_stage(inpainter, cases=cases, base=base, upsample=upsample, guidance=guidance)
    report = {
        "cases": len(cases),
        "shapes": args.shapes,
        "base": f"{base.sampler} {base.steps}",
        "upsample": f"{upsample.sampler} {upsample.steps}",
        "guidance": guidance,
        "colour": result.colour_rate,
        "shape": result.shape_rate,
        "seconds": round(result.seconds, 1),
        "misses": [
            f"{c.prompt} -> {f}"
            for c, f, colour, shape in zip(
                cases, result.found, result.colour_hits, result.shape_hits, strict=True
            )
            if not (colour and shape)
        ][:12],
    }
    print(json.dumps(report))
    if args.record:
        path = folder / DEMO_UPSAMPLER_MANIFEST
        up = json.loads(path.read_text())
        up["evaluation"] = {
            "what": "both demo stages through the studio's pipeline on held-out scenes drawn at "
            f"{inpainter.upsampler.resolution} px, a centred square hole half the picture wide, prompts "
            "'a <colour> <shape>' (circle, square, triangle) naming another colour than the scene's; "
            "colour: the mean of the hole's centre is nearest the prompted colour; shape: the pixels of "
            "that colour fill their bounding box like the named shape (square >= 0.86, circle 0.64-0.86, "
            "triangle below)",
            "command": "python scripts/demo_evaluate_stages.py " + " ".join(sys.argv[1:]),
            **report,
        }
        path.write_text(json.dumps(up, indent=2) + "\n")
    if args.grid is not None:
        from PIL import Image

        top = np.concatenate([c.image for c in cases[:24]], axis=1)
        bottom = np.concatenate(result.images[:24], axis=1)
        Image.fromarray(np.concatenate([top, bottom], axis=0)).save(args.grid)


if __name__ == "__main__":
    main()
