"""How close few-step samplers get to the slow reference samplers, on the demo model.

For held-out synthetic scenes with a hole in the middle and a prompt naming a
colour and a shape, every sampler starts from the same noise:

* ODE error: mean absolute difference (0–255 levels, over the hole) between a
  deterministic sampler's result and 1000-step DDIM's, the exact solution of
  the same probability-flow ODE.
* Adherence: how often the hole's centre takes the prompted colour, next to
  250-step ancestral sampling (the paper's kind of sampler, at high quality).
* Distribution: mean absolute difference of the hole's per-channel mean and
  standard deviation from 250-step ancestral's, averaged over cases.

    python benchmarks/sampler_quality.py [--cases 48] [--guidance 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from common import emit, machine
from torch import Tensor

from glide_studio.core.diffusion import classifier_free_guidance, paste_known_region, sample
from glide_studio.core.runtime.engine import load_demo
from glide_studio.core.training.evaluation import centre_hole, heldout_cases
from glide_studio.core.training.synthetic import nearest_colour

CONFIGS = [
    ("ancestral", "250"),
    ("ddim", "1000"),
    ("ancestral", "100"),
    ("ancestral", "50"),
    ("ancestral", "25"),
    ("ddim", "50"),
    ("ddim", "25"),
    ("ddim", "quad25"),
    ("dpm++2m", "50"),
    ("dpm++2m", "quad50"),
    ("dpm++2m", "quad25"),
    ("dpm++2m", "quad15"),
    ("dpm++2m", "quad10"),
    ("dpm++2m", "25"),
    ("dpm++2m", "15"),
]


def run_sampler(
    stage, cases, known: Tensor, *, sampler: str, steps: str, guidance: float
) -> tuple[Tensor, float]:
    model = stage.model
    n = len(cases)
    images = (
        torch.from_numpy(np.stack([c.image for c in cases]).astype(np.float32)).permute(0, 3, 1, 2) / 127.5
        - 1
    )
    prompts = [f"a {c.colour} {c.shape}" for c in cases] + [""] * n
    tokens, mask, _ = stage.tokens(prompts)
    keep = known.expand(n, -1, -1, -1)
    with torch.inference_mode():
        cond = model.condition(
            tokens=tokens,
            mask=mask,
            inpaint_image=torch.cat([images, images]),
            inpaint_mask=torch.cat([keep, keep]),
        )
        guided = classifier_free_guidance(lambda x, t: model.denoise(x, t, cond), guidance)
        generator = torch.Generator().manual_seed(0)
        x_T = torch.randn(images.shape, generator=generator)
        diffusion = stage.diffusion(steps)
        start = time.perf_counter()
        *_, last = sample(
            sampler, guided, diffusion, x_T, noise=generator, x0_transform=paste_known_region(images, keep)
        )
        seconds = time.perf_counter() - start
    return ((last.x.clamp(-1, 1) + 1) * 127.5).permute(0, 2, 3, 1).numpy(), seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=48)
    parser.add_argument("--guidance", type=float, default=3.0)
    args = parser.parse_args()
    inpainter, manifest = load_demo(device=torch.device("cpu"))
    stage = inpainter.base
    size = stage.resolution
    cases = heldout_cases(args.cases, image_size=size)
    known_np = centre_hole(size)
    known = torch.from_numpy(known_np)[None, None]
    hole, centre = known_np == 0, centre_hole(size, fraction=0.25) == 0
    results = {}
    for sampler, steps in CONFIGS:
        pixels, seconds = run_sampler(
            stage, cases, known, sampler=sampler, steps=steps, guidance=args.guidance
        )
        found = [nearest_colour(p[centre].mean(axis=0)) for p in pixels]
        results[f"{sampler} {steps}"] = {
            "pixels": pixels,
            "steps": stage.diffusion(steps).num_steps,
            "seconds": seconds,
            "adherence": float(np.mean([f == c.colour for f, c in zip(found, cases, strict=True)])),
        }
    ode = results["ddim 1000"]["pixels"]
    ref = results["ancestral 250"]["pixels"]
    stats = lambda p: np.concatenate([p[:, hole].mean(axis=1), p[:, hole].std(axis=1)], axis=1)  # noqa: E731
    rows = []
    for name, r in results.items():
        row = {
            "sampler": name,
            "steps": r["steps"],
            "seconds": round(r["seconds"], 2),
            "adherence": r["adherence"],
            "hole_stats_gap_to_ancestral250": float(np.abs(stats(r["pixels"]) - stats(ref)).mean()),
        }
        if not name.startswith("ancestral"):
            row["ode_error_vs_ddim1000"] = float(np.abs(r["pixels"][:, hole] - ode[:, hole]).mean())
        rows.append(row)
    emit(
        {
            "machine": machine(),
            "model": manifest.get("name"),
            "cases": len(cases),
            "guidance": args.guidance,
            "results": rows,
        }
    )


if __name__ == "__main__":
    main()
