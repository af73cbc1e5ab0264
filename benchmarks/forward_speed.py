"""Per-forward time of the full-size inpainting models with random weights.

Prints JSON: text encoding time, per-step (denoise) time, GFLOP per forward
counted by torch's flop counter, and the achieved rate next to a matmul
measured in the same run.

    python benchmarks/forward_speed.py [--device cpu|cuda] [--repeat 3] [--channels-last] [--candidates 1,4]

Each model runs in the precision the engine gives it (``--precision auto``: bf16 for the
upsampler on CPUs with native bf16). ``--candidates``: batch sizes as a run of that many
candidates makes them (the base model's guided pair per candidate), with the time per
candidate, to see whether a batch is cheaper per row than its rows one at a time.
"""

from __future__ import annotations

import argparse

import torch
from common import (
    count_gflops,
    emit,
    machine,
    matmul_gflops,
    random_released_model,
    time_call,
)

from glide_studio.core.runtime.devices import choose_device, choose_dtype
from glide_studio.core.runtime.optimize import optimize_for_inference


def bench_model(name: str, batch: int, *, device, dtype, repeat: int, layout: str) -> dict:
    model = random_released_model(name, device=device, dtype=dtype)
    model = optimize_for_inference(model, layout=layout)
    size = model.config.image_size
    ctx = model.config.text_ctx
    tokens = torch.randint(0, 50256, (batch, ctx), device=device)
    mask = torch.ones(batch, ctx, dtype=torch.bool, device=device)
    x = torch.randn(batch, 3, size, size, device=device)
    kwargs = {
        "inpaint_image": torch.rand(batch, 3, size, size, device=device) * 2 - 1,
        "inpaint_mask": (torch.rand(batch, 1, size, size, device=device) > 0.5).float(),
    }
    if model.config.super_res:
        kwargs["low_res"] = torch.rand(batch, 3, 64, 64, device=device) * 2 - 1
    t = torch.full((batch,), 500, device=device)
    with torch.inference_mode():
        cond = model.condition(tokens=tokens, mask=mask, **kwargs)
        encode = time_call(lambda: model.encode_text(tokens, mask), device=device, repeat=repeat)
        step = time_call(lambda: model.denoise(x, t, cond), device=device, repeat=repeat)
        text_gflop = count_gflops(lambda: model.encode_text(tokens, mask))
        step_gflop = count_gflops(lambda: model.denoise(x, t, cond))
    return {
        "model": name,
        "batch": batch,
        "layout": layout,
        "text_encoding": encode,
        "denoise": step,
        "gflop_text_per_image": text_gflop / batch,
        "gflop_step_per_image": step_gflop / batch,
        "achieved_gflops": step_gflop / step["best_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--layout", default="auto", choices=["auto", "contiguous", "channels_last"])
    parser.add_argument("--models", default="base-inpaint,upsample-inpaint")
    parser.add_argument("--precision", default="auto", help="auto, float32, bfloat16 or float16")
    parser.add_argument("--candidates", default="1", help="comma-separated candidate counts")
    args = parser.parse_args()
    device = choose_device(args.device)
    rows = {"base-inpaint": 2, "upsample-inpaint": 1}
    results = []
    for name in args.models.split(","):
        dtype = choose_dtype(device, args.precision, variant=name)
        for count in (int(c) for c in args.candidates.split(",")):
            result = bench_model(
                name, rows[name] * count, device=device, dtype=dtype, repeat=args.repeat, layout=args.layout
            )
            rate = matmul_gflops(device=device, dtype=dtype)
            result.update(
                dtype=str(dtype),
                candidates=count,
                median_s_per_candidate=result["denoise"]["median_s"] / count,
                fraction_of_matmul=result["achieved_gflops"] / rate,
            )
            results.append(result)
    emit({"machine": machine(), "models": results})


if __name__ == "__main__":
    main()
