"""How far bf16 (or float16) sampling lands from float32, over whole edits with the same noise.

Each case runs the whole pipeline (``Inpainter.run``) twice, once with the
models in float32 and once in the lower precision, with the same seed, so the
same initial and step noise. The difference is measured on the final picture,
in 0–255 levels over the hole: per case the mean absolute difference, and the
99th percentile over all hole pixels of all cases.

Models: the built-in demo model (its scenes, a centred hole, prompts naming a
colour and a shape) and the reference-shaped tiny models of
``glide_reference/*_tiny.pt`` (random weights: base + upsampler, 256 px;
``$GLIDE_REFERENCE_DIR``, else ``../shared/glide_reference``).
Presets: the default one, and any others named.

    python benchmarks/precision_closeness.py [--dtype bfloat16] [--presets balanced,release] [--cases 8]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
from common import emit, machine, reference_dir

from glide_studio.core.generation.events import Finished
from glide_studio.core.generation.presets import DEFAULT_PRESET, PRESETS
from glide_studio.core.generation.request import EditRequest
from glide_studio.core.model import build_model
from glide_studio.core.pipeline.inpaint import Inpainter, StageModel
from glide_studio.core.runtime.engine import load_demo
from glide_studio.core.runtime.optimize import optimize_for_inference
from glide_studio.core.text.tokenizer import BPETokenizer
from glide_studio.core.training.evaluation import centre_hole, heldout_cases

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def _tiny_stage(name: str, dtype: torch.dtype, device: torch.device) -> StageModel:
    data = torch.load(reference_dir() / f"{name}_tiny.pt", weights_only=True)
    model = build_model(data["options"])
    model.load_state_dict(data["state_dict"])
    model = optimize_for_inference(model.to(device=device, dtype=dtype))
    return StageModel(
        model=model,
        tokenizer=BPETokenizer.released(),
        noise_schedule=data["options"]["noise_schedule"],
        name=f"{name}-tiny",
    )


def tiny_inpainter(base: torch.dtype, upsampler: torch.dtype, device: torch.device) -> Inpainter:
    return Inpainter(
        base=_tiny_stage("base_inpaint", base, device),
        upsampler=_tiny_stage("upsample_inpaint", upsampler, device),
    )


def demo_cases(count: int) -> list[tuple[np.ndarray, np.ndarray, str]]:
    cases = heldout_cases(count, image_size=32)
    hole = centre_hole(32) < 0.5
    return [(c.image, hole, f"a {c.colour} {c.shape}") for c in cases]


def photo_cases(count: int, size: int = 256) -> list[tuple[np.ndarray, np.ndarray, str]]:
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:size, 0:size]
    cases = []
    for k in range(count):
        base = rng.integers(0, 256, 3)
        ramp = (np.stack([yy, xx, yy + xx], -1) * rng.uniform(0.2, 0.6)) % 256
        image = ((base + ramp) % 256).astype(np.uint8)
        hole = centre_hole(size, fraction=0.4) < 0.5
        cases.append((image, hole, ["a corgi in a field", "an oil painting of a red barn at sunset"][k % 2]))
    return cases


def final_image(inpainter: Inpainter, request: EditRequest) -> np.ndarray:
    for event in inpainter.run(request):
        if isinstance(event, Finished):
            return event.candidates[0].image
    raise RuntimeError("the run did not finish")


def compare(pair: tuple[Inpainter, Inpainter], cases, preset: str, guidance: float) -> dict:
    chosen = PRESETS[preset]
    means, pixels, seconds = [], [], [0.0, 0.0]
    for seed, (image, hole, prompt) in enumerate(cases):
        request = EditRequest(
            image=image, mask=hole, prompt=prompt, guidance_scale=guidance,
            base=chosen.base, upsample=chosen.upsample, seed=seed,
        )  # fmt: skip
        outputs = []
        for k, inpainter in enumerate(pair):
            start = time.perf_counter()
            outputs.append(final_image(inpainter, request).astype(np.float64))
            seconds[k] += time.perf_counter() - start
        diff = np.abs(outputs[0] - outputs[1])[hole]
        means.append(float(diff.mean()))
        pixels.append(diff.ravel())
    pooled = np.concatenate(pixels)
    return {
        "preset": preset,
        "cases": len(cases),
        "mean_levels": float(np.mean(means)),
        "worst_case_mean_levels": float(np.max(means)),
        "p99_levels": float(np.percentile(pooled, 99)),
        "max_levels": float(pooled.max()),
        "seconds_float32": seconds[0],
        "seconds_low": seconds[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dtype", default="bfloat16", choices=sorted(DTYPES))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--presets", default=DEFAULT_PRESET)
    parser.add_argument("--cases", type=int, default=8)
    parser.add_argument("--tiny-cases", type=int, default=4)
    parser.add_argument("--models", default="demo,tiny")
    parser.add_argument("--low-stages", default="base,upsample", help="tiny models: stages run in --dtype")
    args = parser.parse_args()
    device = torch.device(args.device)
    low = DTYPES[args.dtype]
    results = []
    for model in args.models.split(","):
        if model == "demo":
            pair = tuple(load_demo(device=device, precision=p)[0] for p in ("float32", args.dtype))
            cases, guidance = demo_cases(args.cases), 3.0
        else:
            stages = args.low_stages.split(",")
            base_dtype = low if "base" in stages else torch.float32
            up_dtype = low if "upsample" in stages else torch.float32
            pair = (
                tiny_inpainter(torch.float32, torch.float32, device),
                tiny_inpainter(base_dtype, up_dtype, device),
            )
            cases, guidance = photo_cases(args.tiny_cases), 5.0
        for preset in args.presets.split(","):
            results.append({"model": model, **compare(pair, cases, preset, guidance)})
            print(results[-1], file=sys.stderr, flush=True)  # progress; stdout is the JSON
    emit({"machine": machine(), "dtype": args.dtype, "low_stages": args.low_stages, "results": results})


if __name__ == "__main__":
    main()
