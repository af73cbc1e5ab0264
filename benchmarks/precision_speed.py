"""Per-step time of the full-size models in float32 and in bf16, in one process, interleaved.

Both engines are loaded from the random released-shape weights (``edit_speed.py``
writes them) and their ``denoise`` calls alternate, so that a busy machine
slows both alike; prints every time and the largest output difference.

    python benchmarks/precision_speed.py [--rounds 3] [--low bfloat16]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
from common import emit, machine

from glide_studio.core.runtime.engine import load_local_backend


def _inputs(model, batch: int) -> tuple:
    size = model.config.image_size
    gen = torch.Generator().manual_seed(0)
    kwargs = {
        "inpaint_image": torch.rand(batch, 3, size, size, generator=gen) * 2 - 1,
        "inpaint_mask": (torch.rand(batch, 1, size, size, generator=gen) > 0.5).float(),
    }
    if model.config.super_res:
        kwargs["low_res"] = torch.rand(batch, 3, 64, 64, generator=gen) * 2 - 1
    tokens = torch.randint(0, 50256, (batch, model.config.text_ctx), generator=gen)
    with torch.inference_mode():
        cond = model.condition(tokens=tokens, mask=torch.ones_like(tokens, dtype=torch.bool), **kwargs)
    x = torch.randn(batch, 3, size, size, generator=gen)
    return x, torch.full((batch,), 500), cond


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights-dir", type=Path, default=Path("/tmp/glide-random-weights"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--low", default="bfloat16")
    args = parser.parse_args()
    engines = {
        p: load_local_backend(weights_dir=args.weights_dir, device="cpu", demo=False, precision=p)
        for p in ("float32", args.low)
    }
    results = {}
    for stage, batch in (("base", 2), ("upsampler", 1)):
        runs = {p: (getattr(e.inpainter, stage).model,) for p, e in engines.items()}
        runs = {p: (m[0], *_inputs(m[0], batch)) for p, m in runs.items()}
        times: dict[str, list[float]] = {p: [] for p in runs}
        outputs = {}
        with torch.inference_mode():
            for _ in range(args.rounds):
                for p, (model, x, t, cond) in runs.items():
                    start = time.perf_counter()
                    outputs[p] = model.denoise(x, t, cond)
                    times[p].append(time.perf_counter() - start)
        low, high = outputs[args.low], outputs["float32"]
        results[stage] = {"batch": batch, "seconds": times, "max_abs_diff": float((low - high).abs().max())}
    emit({"machine": machine(), "load_average_1_5_15": os.getloadavg(), "results": results})


if __name__ == "__main__":
    main()
