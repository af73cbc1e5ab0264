"""The step without launch overhead, and this project beside GLIDE's released code on the same card.

One process, one GPU, the same full-size random weights (the released shapes, written
once under the released names by ``edit_speed.py``'s helper), float16:

* forwards, base at 2 × candidates rows (guided) and upsampler at candidates rows:
  this project's eager step, its CUDA-graph replay (``runtime.step_graphs``), optionally
  the compiled step's graph (``--compile``), and the reference's ``model(x, t, **kwargs)``
  (which encodes the prompt at every call, as its sampling loop does); the largest
  difference of graph and compiled outputs from the eager one;
* a whole Balanced edit of ``--candidates`` candidates, warm and prepared as the studio
  runs it, with graphs off (eager) and on: seconds, first preview, and how far the
  graphed pixels are from the eager ones (same seed; float16 rounding only);
* the reference's own sampling loop for the same number of model evaluations (ancestral
  base steps with guidance and the known region pasted, DDIM upsampler steps), warm;
* ratios, and the issue's targets (H100: whole edit ≤ 0.35 s, first preview ≤ 60 ms,
  ≤ 0.3 of the reference's whole edit).

The reference is not part of this project; pass a checkout's folder (the one holding the
``glide_text2im`` package) as ``--reference-src``. Without it the reference rows are
skipped and said so. ``--quick``: 2 + 2 steps, one candidate, one repeat: a CPU dry run.

    python benchmarks/gpu_side_by_side.py --reference-src .gpu-ref/glide-text2im [--compile]
"""

from __future__ import annotations

import argparse
import gc
import importlib
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import emit, machine

from glide_studio.core.generation.backend import Preparation
from glide_studio.core.generation.events import Finished, Preview
from glide_studio.core.generation.live import LIVE_PRESET
from glide_studio.core.generation.presets import PRESETS
from glide_studio.core.generation.request import EditRequest, StageSettings
from glide_studio.core.runtime.devices import choose_device
from glide_studio.core.runtime.engine import load_local_backend
from glide_studio.core.runtime.step_graphs import StepGraphs, StepOptions, cuda_graph_capture
from glide_studio.core.weights.released import RELEASED

PROMPT = "a red barn in a field"
GUIDANCE = 3.0
TARGETS = {"edit_s": 0.35, "first_preview_s": 0.060, "edit_ratio": 0.3}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Any, device: torch.device, repeat: int) -> float:
    """Median seconds of ``fn`` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _photo() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    hole = np.zeros((256, 256), bool)
    hole[64:192, 64:192] = True
    return image, hole


# -- this project ------------------------------------------------------------------------------


def project_forwards(engine: Any, rows: dict[str, int], repeat: int, compile_step: bool) -> list[dict]:
    stages = {"base-inpaint": engine.inpainter.base, "upsample-inpaint": engine.inpainter.upsampler}
    out = []
    for name, stage in stages.items():
        out.append(_project_forward(name, stage.model, rows[name], repeat, compile_step))
        print(out[-1], file=sys.stderr, flush=True)
    return out


def _project_forward(name: str, model: Any, n: int, repeat: int, compile_step: bool) -> dict:
    """Eager step, its graph (CUDA), optionally the compiled step's graph, at ``n`` rows."""
    device = model.device
    graphs = StepGraphs(model, capture=cuda_graph_capture) if device.type == "cuda" else None
    with torch.inference_mode():
        x, t, cond = (graphs or StepGraphs(model)).inputs(n)
        x.normal_()
        eager_out = model.denoise_eager(x, t, cond)
        row: dict[str, Any] = {
            "model": name,
            "rows": n,
            "eager_ms": 1000 * _timed(lambda: model.denoise_eager(x, t, cond), device, repeat),
        }
        if graphs is not None:
            start = time.perf_counter()
            graphs.capture(n)
            row["capture_s"] = time.perf_counter() - start
            row["graph_failed"] = graphs.failed.get(n)
            replay = graphs.run(x, t, cond) if not graphs.failed else None
            if replay is not None:
                row["graph_ms"] = 1000 * _timed(lambda: graphs.run(x, t, cond), device, repeat)
                row["graph_max_abs_diff"] = float((replay - eager_out).abs().max())
            if compile_step:
                row.update(_compiled(model, n, x, t, cond, eager_out))
    row["speedup_graph"] = row["eager_ms"] / row["graph_ms"] if row.get("graph_ms") else None
    return row


def _compiled(model: Any, n: int, x: Any, t: Any, cond: Any, eager_out: Any) -> dict:
    """The compiled step's graph beside the plain one (``StepGraphs`` keeps the faster)."""
    graphs = StepGraphs(model, options=StepOptions(compile=True), capture=cuda_graph_capture)
    start = time.perf_counter()
    graphs.capture(n)
    seconds = time.perf_counter() - start
    if n in graphs.failed:
        return {"compile_failed": graphs.failed[n][:300]}
    timings = graphs.timings.get(n, {})
    out = graphs.run(x, t, cond)
    return {
        "compile_and_capture_s": seconds,
        "compiled_kept": graphs.compiled.get(n),
        "compiled_graph_ms": 1000 * timings["compiled_s"] if "compiled_s" in timings else None,
        "plain_graph_ms_same_check": 1000 * timings["plain_s"] if "plain_s" in timings else None,
        "chosen_max_abs_diff": float((out - eager_out).abs().max()) if out is not None else None,
    }


def _request(candidates: int, base: StageSettings, upsample: StageSettings) -> EditRequest:
    image, hole = _photo()
    return EditRequest(
        image=image,
        mask=hole,
        prompt=PROMPT,
        guidance_scale=GUIDANCE,
        base=base,
        upsample=upsample,
        candidates=candidates,
        seed=1,
    )


def project_edit(engine: Any, request: EditRequest, *, graphs: bool, repeat: int) -> dict:
    """Prepared as the studio does, run ``repeat`` + 1 times (the first one not counted)."""
    stages = [engine.inpainter.base, engine.inpainter.upsampler]
    kept = [s.model.step_graphs for s in stages]
    if not graphs:
        for s in stages:
            s.model.step_graphs = None
    try:
        device = stages[0].model.device
        engine.prepare(
            Preparation(
                prompt=request.prompt, candidates=request.candidates, guidance_scale=request.guidance_scale
            )
        )
        _sync(device)
        times, previews, patches = [], [], None
        for _ in range(repeat + 1):
            start = time.perf_counter()
            first = None
            for event in engine.run(request):
                if isinstance(event, Preview) and first is None:
                    first = time.perf_counter() - start
                elif isinstance(event, Finished):
                    times.append(time.perf_counter() - start)
                    patches = [c.patch for c in event.candidates]
            previews.append(first)
        hits = [getattr(s.model.step_graphs, "hits", None) for s in stages]
    finally:
        for s, g in zip(stages, kept, strict=True):
            s.model.step_graphs = g
    return {
        "graphs": graphs,
        "seconds": statistics.median(times[1:] or times),
        "first_preview_s": statistics.median(previews[1:] or previews),
        "graph_hits": hits,
        "patches": patches,
    }


# -- the reference -------------------------------------------------------------------------------


def _reference(src: Path) -> Any:
    sys.path.insert(0, str(src))
    return importlib.import_module("glide_text2im.model_creation")


def _ref_model(creation: Any, name: str, weights: Path, respacing: str, device: torch.device) -> tuple:
    upsampler = name.startswith("upsample")
    defaults = (
        creation.model_and_diffusion_defaults_upsampler
        if upsampler
        else creation.model_and_diffusion_defaults
    )
    options = defaults()
    half = device.type == "cuda"
    options.update(inpaint=True, use_fp16=half, timestep_respacing=respacing)
    model, diffusion = creation.create_model_and_diffusion(**options)
    model.eval()
    model.load_state_dict(
        torch.load(weights / RELEASED[name].filename, map_location="cpu", weights_only=True)
    )
    if half:
        model.convert_to_fp16()
    return model.to(device), diffusion, options


def _ref_inputs(model: Any, options: dict, n: int, device: torch.device, size: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    tokens, mask = model.tokenizer.padded_tokens_and_mask(model.tokenizer.encode(PROMPT), options["text_ctx"])
    known = (torch.rand(n, 1, size, size, generator=gen) > 0.5).float()
    kwargs = {
        "tokens": torch.tensor([tokens] * n, device=device),
        "mask": torch.tensor([mask] * n, dtype=torch.bool, device=device),
        "inpaint_image": ((torch.rand(n, 3, size, size, generator=gen) * 2 - 1) * known).to(device),
        "inpaint_mask": known.to(device),
    }
    if size == 256:
        kwargs["low_res"] = (torch.rand(n, 3, 64, 64, generator=gen) * 2 - 1).to(device)
    return kwargs


def reference_forwards(creation: Any, weights: Path, rows: dict[str, int], device: Any, repeat: int) -> list:
    out = []
    for name in ("base-inpaint", "upsample-inpaint"):
        out.append(_reference_forward(creation, weights, name, rows[name], device, repeat))
        print(out[-1], file=sys.stderr, flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return out


def _reference_forward(creation: Any, weights: Path, name: str, n: int, device: Any, repeat: int) -> dict:
    """The reference's forward as its sampling loop calls it (the prompt encoded every call)."""
    model, _, options = _ref_model(creation, name, weights, "", device)
    size = 256 if name.startswith("upsample") else 64
    kwargs = _ref_inputs(model, options, n, device, size)
    x = torch.randn(n, 3, size, size, device=device)
    t = torch.full((n,), 500, device=device)
    with torch.no_grad():
        ms = 1000 * _timed(lambda: model(x, t, **kwargs), device, repeat)
    return {"model": name, "rows": n, "reference_ms": ms}


def reference_edit(
    creation: Any, weights: Path, candidates: int, steps: tuple[str, str], device, repeat: int
):
    """The released inpainting notebook's loop at ``candidates`` rows: guided ancestral base steps
    with the known region pasted, then DDIM upsampler steps; models loaded once, timed warm."""
    base, base_diffusion, base_options = _ref_model(creation, "base-inpaint", weights, steps[0], device)
    up, up_diffusion, up_options = _ref_model(creation, "upsample-inpaint", weights, steps[1], device)
    image, hole = _photo()
    full = (torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1).to(device)
    known = torch.from_numpy(~hole)[None, None].float().to(device)
    small = torch.nn.functional.interpolate(full, (64, 64), mode="bicubic", align_corners=False)
    small_known = torch.nn.functional.interpolate(known, (64, 64), mode="nearest")
    n = candidates

    def tokens(model: Any, prompt: str, ctx: int) -> tuple[list[int], list[bool]]:
        return model.tokenizer.padded_tokens_and_mask(model.tokenizer.encode(prompt), ctx)

    def one_edit() -> None:
        cond, cond_mask = tokens(base, PROMPT, base_options["text_ctx"])
        empty, empty_mask = tokens(base, "", base_options["text_ctx"])
        kwargs = {
            "tokens": torch.tensor([cond] * n + [empty] * n, device=device),
            "mask": torch.tensor([cond_mask] * n + [empty_mask] * n, dtype=torch.bool, device=device),
            "inpaint_image": (small * small_known).repeat(2 * n, 1, 1, 1),
            "inpaint_mask": small_known.repeat(2 * n, 1, 1, 1),
        }

        def guided(x_t: torch.Tensor, ts: torch.Tensor, **kw: Any) -> torch.Tensor:
            half = x_t[: len(x_t) // 2]
            out = base(torch.cat([half, half]), ts, **kw)
            eps, rest = out[:, :3], out[:, 3:]
            c, u = eps.chunk(2)
            mixed = u + GUIDANCE * (c - u)
            return torch.cat([torch.cat([mixed, mixed]), rest], dim=1)

        def paste(image_: torch.Tensor, mask_: torch.Tensor) -> Any:
            return lambda x0: x0 * (1 - mask_) + image_ * mask_

        known_64 = paste(kwargs["inpaint_image"], kwargs["inpaint_mask"])
        sample = base_diffusion.p_sample_loop(
            guided, (2 * n, 3, 64, 64), device=device, clip_denoised=True, progress=False,
            model_kwargs=kwargs, cond_fn=None, denoised_fn=known_64,
        )[:n]  # fmt: skip
        up_tokens, up_mask = tokens(up, PROMPT, up_options["text_ctx"])
        up_kwargs = {
            "low_res": ((sample + 1) * 127.5).round() / 127.5 - 1,
            "tokens": torch.tensor([up_tokens] * n, device=device),
            "mask": torch.tensor([up_mask] * n, dtype=torch.bool, device=device),
            "inpaint_image": (full * known).repeat(n, 1, 1, 1),
            "inpaint_mask": known.repeat(n, 1, 1, 1),
        }
        up_diffusion.ddim_sample_loop(
            up, (n, 3, 256, 256), device=device, clip_denoised=True, progress=False, model_kwargs=up_kwargs,
            cond_fn=None, denoised_fn=paste(up_kwargs["inpaint_image"], up_kwargs["inpaint_mask"]),
        )  # fmt: skip

    with torch.no_grad():
        seconds = _timed(one_edit, device, repeat)
    return {"candidates": n, "steps": f"ancestral {steps[0]} + ddim {steps[1]}", "seconds": seconds}


# -- the whole check -------------------------------------------------------------------------------


def _levels(a: list[np.ndarray], b: list[np.ndarray]) -> dict:
    diff = np.abs(np.stack(a).astype(np.int16) - np.stack(b).astype(np.int16))
    return {"mean_levels": float(diff.mean()), "max_levels": int(diff.max())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reference-src", type=Path, default=None, help="a glide-text2im checkout")
    parser.add_argument("--weights-dir", type=Path, default=Path("/tmp/glide-random-weights"))
    parser.add_argument("--device", default=None)
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="also time the compiled step's graph")
    parser.add_argument("--parts", default="forward,edit,live,reference", help="what to measure")
    parser.add_argument("--quick", action="store_true", help="a CPU dry run: 2 + 2 steps, 1 candidate")
    args = parser.parse_args()
    device = choose_device(args.device)
    if not all(
        (args.weights_dir / RELEASED[n].filename).exists() for n in ("base-inpaint", "upsample-inpaint")
    ):
        helper = Path(__file__).with_name("edit_speed.py")
        child = [sys.executable, str(helper), "--write-weights-only", "--weights-dir", str(args.weights_dir)]
        subprocess.run(child, check=True)
    balanced = PRESETS["balanced"]
    base, upsample = balanced.base, balanced.upsample
    candidates, repeat = args.candidates, args.repeat
    if args.quick:
        base, upsample = StageSettings(sampler="dpm++2m", steps="2"), StageSettings(sampler="ddim", steps="2")
        candidates, repeat = 1, 1
    rows = {"base-inpaint": 2 * candidates, "upsample-inpaint": candidates}
    parts = set(args.parts.split(","))
    result: dict[str, Any] = {"machine": machine(), "device": str(device), "targets_h100": TARGETS}
    engine = load_local_backend(weights_dir=args.weights_dir, device=device, demo=False)
    engine.inpainter.in_turn = False  # one batch of candidates, as on a GPU
    result["precision"] = engine.info.precision
    if "forward" in parts:
        result["forward"] = project_forwards(engine, rows, repeat, args.compile)
    if "edit" in parts:
        result["edit"] = _edits(engine, _request(candidates, base, upsample), repeat)
    if "live" in parts:
        steps = (base, upsample) if args.quick else (LIVE_PRESET.base, LIVE_PRESET.upsample)
        live = _request(1, *steps)
        result["live"] = {
            k: v for k, v in project_edit(engine, live, graphs=True, repeat=repeat).items() if k != "patches"
        }
    del engine
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    if "reference" not in parts:
        pass
    elif args.reference_src is not None and (args.reference_src / "glide_text2im").is_dir():
        creation = _reference(args.reference_src)
        ref_rows = reference_forwards(creation, args.weights_dir, rows, device, repeat)
        steps = (base.steps, upsample.steps)
        ref_edit = reference_edit(creation, args.weights_dir, candidates, steps, device, repeat)
        result["reference"] = {"forward": ref_rows, "edit": ref_edit}
        if "forward" in result and "edit" in result:
            result["ratios"] = _ratios(result["forward"], ref_rows, result["edit"], ref_edit)
    else:
        result["reference"] = f"skipped: no glide_text2im package under {args.reference_src}"
    emit(result)


def _edits(engine: Any, request: EditRequest, repeat: int) -> dict:
    """The edit with graphs off, then on, and how far their pixels are apart (same seed)."""
    eager = project_edit(engine, request, graphs=False, repeat=repeat)
    graphed = project_edit(engine, request, graphs=True, repeat=repeat)
    return {
        "preset": f"balanced ({request.base.sampler} {request.base.steps} + "
        f"{request.upsample.sampler} {request.upsample.steps})",
        "candidates": request.candidates,
        "eager": {k: v for k, v in eager.items() if k != "patches"},
        "graphs": {k: v for k, v in graphed.items() if k != "patches"},
        "graphs_vs_eager_pixels": _levels(graphed["patches"], eager["patches"]),
    }


def _ratios(forward: list[dict], ref_forward: list[dict], edit: dict, ref_edit: dict) -> dict:
    """This project's time over the reference's (below 1: faster), and the targets met."""
    ratios: dict[str, Any] = {}
    for mine, ref in zip(forward, ref_forward, strict=True):
        best = mine.get("graph_ms") or mine["eager_ms"]
        ratios[f"{mine['model']}_forward"] = best / ref["reference_ms"]
        ratios[f"{mine['model']}_forward_eager"] = mine["eager_ms"] / ref["reference_ms"]
    ratios["edit_graphs"] = edit["graphs"]["seconds"] / ref_edit["seconds"]
    ratios["edit_eager"] = edit["eager"]["seconds"] / ref_edit["seconds"]
    ratios["targets_met"] = {
        "edit_s": edit["graphs"]["seconds"] <= TARGETS["edit_s"],
        "first_preview_s": edit["graphs"]["first_preview_s"] <= TARGETS["first_preview_s"],
        "edit_ratio": ratios["edit_graphs"] <= TARGETS["edit_ratio"],
    }
    return ratios


if __name__ == "__main__":
    main()
