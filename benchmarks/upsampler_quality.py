"""How close few-step samplers get with the demo upsampler (the presets' upsampler steps).

Held-out scenes drawn at the upsampler's size get a centred hole and a prompt;
the demo base model fills the hole once (ancestral 50 steps, guidance 3, as the
studio samples the demo), and its result, rounded to 8 bits, is what the
upsampler is conditioned on, as in the pipeline. Then every upsampler sampler
starts from the same noise (scaled by the pipeline's temperature 0.997):

* ODE error: mean absolute difference (0–255 levels, over the hole) between the
  result and 1000-step DDIM's, the exact solution of the same probability-flow ODE.
* Sharpness gap: mean absolute difference of the hole's gradient energy from
  1000-step DDIM's, in levels per pixel (too few steps leave the result soft).

    python benchmarks/upsampler_quality.py [--cases 8]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from common import emit, machine
from torch import Tensor

from glide_studio.core.diffusion import classifier_free_guidance, paste_known_region, sample
from glide_studio.core.pipeline.tensors import round_to_8bit, upsampler_low_res
from glide_studio.core.runtime.engine import load_demo
from glide_studio.core.training.evaluation import centre_hole, heldout_cases

CONFIGS = [
    ("ddim", "1000"),
    ("ancestral", "fast27"),
    ("ancestral", "50"),
    ("ancestral", "25"),
    ("ancestral", "15"),
    ("ancestral", "10"),
    ("ddim", "50"),
    ("ddim", "25"),
    ("ddim", "15"),
    ("ddim", "10"),
    ("ddim", "5"),
    ("dpm++2m", "25"),
    ("dpm++2m", "20"),
    ("dpm++2m", "15"),
    ("dpm++2m", "10"),
    ("dpm++2m", "8"),
    ("dpm++2m", "5"),
]
TEMPERATURE = 0.997


def _images(cases) -> Tensor:
    stacked = np.stack([c.image for c in cases]).astype(np.float32)
    return torch.from_numpy(stacked).permute(0, 3, 1, 2) / 127.5 - 1


def base_results(stage, images: Tensor, prompts: list[str], guidance: float) -> Tensor:
    """The demo base stage's fill of each hole, at its own size."""
    size = stage.resolution
    n = len(prompts)
    small = upsampler_low_res(images, size)
    keep = torch.from_numpy(centre_hole(size))[None, None].expand(n, -1, -1, -1)
    tokens, mask, _ = stage.tokens(prompts + [""] * n)
    with torch.inference_mode():
        cond = stage.model.condition(
            tokens=tokens,
            mask=mask,
            inpaint_image=torch.cat([small, small]),
            inpaint_mask=torch.cat([keep, keep]),
        )
        guided = classifier_free_guidance(lambda x, t: stage.model.denoise(x, t, cond), guidance)
        generator = torch.Generator().manual_seed(1)
        x_T = torch.randn(small.shape, generator=generator)
        *_, last = sample(
            "ancestral",
            guided,
            stage.diffusion("50"),
            x_T,
            noise=generator,
            x0_transform=paste_known_region(small, keep),
        )
    return round_to_8bit(last.x.clamp(-1, 1))


def upsample(stage, images: Tensor, low_res: Tensor, prompts: list[str], *, sampler: str, steps: str):
    size = stage.resolution
    n = len(prompts)
    keep = torch.from_numpy(centre_hole(size))[None, None].expand(n, -1, -1, -1)
    tokens, mask, _ = stage.tokens(prompts)
    with torch.inference_mode():
        cond = stage.model.condition(
            tokens=tokens, mask=mask, inpaint_image=images, inpaint_mask=keep, low_res=low_res
        )
        generator = torch.Generator().manual_seed(2)
        x_T = torch.randn(images.shape, generator=generator) * TEMPERATURE
        start = time.perf_counter()
        *_, last = sample(
            sampler,
            lambda x, t: stage.model.denoise(x, t, cond),
            stage.diffusion(steps),
            x_T,
            noise=generator,
            x0_transform=paste_known_region(images, keep),
        )
        seconds = time.perf_counter() - start
    return ((last.x.clamp(-1, 1) + 1) * 127.5).permute(0, 2, 3, 1).numpy(), seconds


def gradient_energy(pixels: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Mean absolute horizontal + vertical difference inside the hole, per case."""
    dx = np.abs(np.diff(pixels, axis=2))[:, :-1]
    dy = np.abs(np.diff(pixels, axis=1))[:, :, :-1]
    return (dx + dy)[:, hole[:-1, :-1]].mean(axis=(1, 2))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=8)
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--reference-steps", default="1000", help="DDIM steps of the reference solution")
    parser.add_argument("--only", nargs="*", default=None, help="run only these, e.g. 'ddim 8'")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    inpainter, _ = load_demo(device=torch.device("cpu"), precision="float32")
    stage = inpainter.upsampler
    if stage is None:
        raise SystemExit("this install has no demo upsampler")
    size = stage.resolution
    cases = heldout_cases(args.cases, image_size=size)
    prompts = [c.prompt for c in cases]
    images = _images(cases)
    low_res = base_results(inpainter.base, images, prompts, args.guidance)
    hole = centre_hole(size) == 0
    reference = ("ddim", args.reference_steps)
    chosen = CONFIGS[1:] if args.only is None else [tuple(name.split()) for name in args.only]
    configs = [reference, *chosen]
    results = {}
    for sampler, steps in configs:
        pixels, seconds = upsample(stage, images, low_res, prompts, sampler=sampler, steps=steps)
        results[f"{sampler} {steps}"] = {
            "pixels": pixels,
            "seconds": seconds,
            "steps": stage.diffusion(steps).num_steps,
        }
    ode = results[" ".join(reference)]["pixels"]
    sharp = gradient_energy(ode, hole)
    rows = []
    for name, r in results.items():
        rows.append(
            {
                "sampler": name,
                "steps": r["steps"],
                "seconds": round(r["seconds"], 2),
                "ode_error_vs_reference": float(np.abs(r["pixels"][:, hole] - ode[:, hole]).mean()),
                "ode_error_p99": float(np.percentile(np.abs(r["pixels"][:, hole] - ode[:, hole]), 99)),
                "sharpness_gap": float(np.abs(gradient_energy(r["pixels"], hole) - sharp).mean()),
            }
        )
    emit(
        {
            "machine": machine(),
            "model": "demo upsampler",
            "cases": len(cases),
            "reference": " ".join(reference),
            "results": rows,
        }
    )


if __name__ == "__main__":
    main()
