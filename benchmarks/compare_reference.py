"""This project against GLIDE's released code, side by side in one process.

Both run on the same full-size random weights (the released checkpoints' shapes,
written once under the released names by ``edit_speed.py``'s helper) on this
machine, in this process, one after the other:

* each model's forward: the reference's ``model(x, t, **kwargs)`` (which encodes
  the prompt at every call, as its sampling loop does) against this project's
  per-step ``denoise`` (the prompt encoded once per request), base batch 2 and
  upsampler batch 1; plus the largest difference of the two float32 outputs,
  a check that the weights mean the same to both;
* a whole edit with loading: build and load both models, encode the prompt, 4
  guided ancestral base steps with the known region pasted, 2 upsampler steps,
  as the released inpainting example does; for this project ``load_local_backend`` and
  ``Inpainter.run`` with the same settings, in float32 and in its automatic
  precision.

The reference is not part of this project: pass the folder of a checkout of
``openai/glide-text2im`` (the one holding the ``glide_text2im`` package).

    python benchmarks/compare_reference.py --reference-src /path/to/glide-text2im [--repeat 2]
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

from glide_studio.core.generation.events import Finished
from glide_studio.core.generation.request import EditRequest, StageSettings
from glide_studio.core.runtime.devices import cpu_flags, native_bf16
from glide_studio.core.runtime.engine import load_local_backend
from glide_studio.core.weights.released import RELEASED

FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8", "avx512_fp16")
PROMPT = "a corgi wearing a red scarf"
GUIDANCE = 3.0
BASE_STEPS, UPSAMPLE_STEPS = "4", "2"


def _reference(src: Path) -> Any:
    sys.path.insert(0, str(src))
    try:
        return importlib.import_module("glide_text2im.model_creation")
    except ImportError as exc:
        raise SystemExit(f"compare_reference: cannot import glide_text2im from {src}: {exc}") from None


def _ref_options(creation: Any, name: str, respacing: str) -> dict:
    upsampler = name.startswith("upsample")
    options = (
        creation.model_and_diffusion_defaults_upsampler
        if upsampler
        else creation.model_and_diffusion_defaults
    )()
    options.update(inpaint=True, use_fp16=False, timestep_respacing=respacing)
    return options


def _ref_model(creation: Any, name: str, weights: Path, respacing: str = "") -> tuple[Any, Any, dict]:
    options = _ref_options(creation, name, respacing)
    model, diffusion = creation.create_model_and_diffusion(**options)
    model.eval()
    model.load_state_dict(
        torch.load(weights / RELEASED[name].filename, map_location="cpu", weights_only=True)
    )
    return model, diffusion, options


def _timed(fn: Any, repeat: int) -> dict:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "best_s": min(times)}


def _inputs(name: str, batch: int, ctx: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    size = 256 if name.startswith("upsample") else 64
    known = (torch.rand(batch, 1, size, size, generator=gen) > 0.5).float()
    inputs = {
        "x": torch.randn(batch, 3, size, size, generator=gen),
        "t": torch.full((batch,), 500),
        "tokens": torch.randint(0, 50256, (batch, ctx), generator=gen),
        "mask": torch.ones(batch, ctx, dtype=torch.bool),
        "inpaint_image": (torch.rand(batch, 3, size, size, generator=gen) * 2 - 1) * known,
        "inpaint_mask": known,
    }
    if name.startswith("upsample"):
        inputs["low_res"] = torch.rand(batch, 3, 64, 64, generator=gen) * 2 - 1
    return inputs


def _reference_forward(creation: Any, name: str, batch: int, weights: Path, repeat: int) -> tuple[dict, Any]:
    model, _, options = _ref_model(creation, name, weights)
    inp = _inputs(name, batch, options["text_ctx"])
    kwargs = {k: v for k, v in inp.items() if k not in ("x", "t")}
    with torch.no_grad():
        timing = _timed(lambda: model(inp["x"], inp["t"], **kwargs), repeat)
        return timing, model(inp["x"], inp["t"], **kwargs)


def _project_forward(name: str, batch: int, weights: Path, precision: str, repeat: int) -> tuple[dict, Any]:
    engine = load_local_backend(weights_dir=weights, device="cpu", demo=False, precision=precision)
    stage = engine.inpainter.base if name == "base-inpaint" else engine.inpainter.upsampler
    model = stage.model
    inp = _inputs(name, batch, model.config.text_ctx)
    kwargs = {k: v for k, v in inp.items() if k not in ("x", "t")}
    with torch.inference_mode():
        cond = model.condition(**kwargs)
        timing = _timed(lambda: model.denoise(inp["x"], inp["t"], cond), repeat)
        out = model.denoise(inp["x"], inp["t"], cond)
    return {**timing, "dtype": str(model.dtype)}, out


def forwards(creation: Any, weights: Path, repeat: int) -> list[dict]:
    rows = []
    for name, batch in (("base-inpaint", 2), ("upsample-inpaint", 1)):
        ref_time, ref_out = _reference_forward(creation, name, batch, weights, repeat)
        gc.collect()
        row = {"model": name, "batch": batch, "reference": ref_time}
        for precision in ("float32", "auto"):
            timing, out = _project_forward(name, batch, weights, precision, repeat)
            timing["ratio"] = timing["median_s"] / ref_time["median_s"]
            timing["max_abs_diff_vs_reference"] = float((out - ref_out).abs().max())
            row[f"project_{precision}"] = timing
            gc.collect()
        rows.append(row)
        print(row, file=sys.stderr, flush=True)
    return rows


def _photo() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    hole = np.zeros((256, 256), bool)
    hole[64:192, 64:192] = True
    return image, hole


def reference_edit(creation: Any, weights: Path) -> float:
    """The released inpainting example's loop, loading included; returns seconds."""
    start = time.perf_counter()
    image, hole = _photo()
    base, base_diffusion, base_options = _ref_model(creation, "base-inpaint", weights, BASE_STEPS)
    up, up_diffusion, up_options = _ref_model(creation, "upsample-inpaint", weights, UPSAMPLE_STEPS)
    full = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1
    known = torch.from_numpy(~hole)[None, None].float()
    small = torch.nn.functional.interpolate(full, (64, 64), mode="bicubic", align_corners=False)
    small_known = torch.nn.functional.interpolate(known, (64, 64), mode="nearest")

    def tokens(model: Any, prompt: str, ctx: int) -> tuple[list[int], list[bool]]:
        return model.tokenizer.padded_tokens_and_mask(model.tokenizer.encode(prompt), ctx)

    cond, cond_mask = tokens(base, PROMPT, base_options["text_ctx"])
    empty, empty_mask = tokens(base, "", base_options["text_ctx"])
    kwargs = {
        "tokens": torch.tensor([cond, empty]),
        "mask": torch.tensor([cond_mask, empty_mask], dtype=torch.bool),
        "inpaint_image": (small * small_known).repeat(2, 1, 1, 1),
        "inpaint_mask": small_known.repeat(2, 1, 1, 1),
    }

    def guided(x_t: torch.Tensor, ts: torch.Tensor, **kw: Any) -> torch.Tensor:
        half = x_t[: len(x_t) // 2]
        out = base(torch.cat([half, half]), ts, **kw)
        eps, rest = out[:, :3], out[:, 3:]
        c, u = eps.chunk(2)
        mixed = u + GUIDANCE * (c - u)
        return torch.cat([torch.cat([mixed, mixed]), rest], dim=1)

    def paste(known_image: torch.Tensor, known_mask: torch.Tensor) -> Any:
        return lambda x0: x0 * (1 - known_mask) + known_image * known_mask

    sample = base_diffusion.p_sample_loop(
        guided, (2, 3, 64, 64), device="cpu", clip_denoised=True, progress=False, model_kwargs=kwargs,
        cond_fn=None, denoised_fn=paste(kwargs["inpaint_image"], kwargs["inpaint_mask"]),
    )[:1]  # fmt: skip
    up_tokens, up_mask = tokens(up, PROMPT, up_options["text_ctx"])
    up_kwargs = {
        "low_res": ((sample + 1) * 127.5).round() / 127.5 - 1,
        "tokens": torch.tensor([up_tokens]),
        "mask": torch.tensor([up_mask], dtype=torch.bool),
        "inpaint_image": full * known,
        "inpaint_mask": known,
    }
    up_diffusion.p_sample_loop(
        up, (1, 3, 256, 256), noise=torch.randn(1, 3, 256, 256) * 0.997, device="cpu", clip_denoised=True,
        progress=False, model_kwargs=up_kwargs, cond_fn=None,
        denoised_fn=paste(up_kwargs["inpaint_image"], known),
    )  # fmt: skip
    return time.perf_counter() - start


def project_edit(weights: Path, precision: str) -> float:
    start = time.perf_counter()
    engine = load_local_backend(weights_dir=weights, device="cpu", demo=False, precision=precision)
    image, hole = _photo()
    request = EditRequest(
        image=image,
        mask=hole,
        prompt=PROMPT,
        guidance_scale=GUIDANCE,
        base=StageSettings(sampler="ancestral", steps=BASE_STEPS),
        upsample=StageSettings(sampler="ancestral", steps=UPSAMPLE_STEPS),
        seed=0,
    )
    finished = [e for e in engine.run(request) if isinstance(e, Finished)]
    assert finished, "the edit did not finish"
    return time.perf_counter() - start


def edits(creation: Any, weights: Path, repeat: int) -> dict:
    times: dict[str, list[float]] = {"reference": [], "project_float32": [], "project_auto": []}
    for _ in range(repeat):
        with torch.no_grad():
            times["reference"].append(reference_edit(creation, weights))
        gc.collect()
        for precision in ("float32", "auto"):
            times[f"project_{precision}"].append(project_edit(weights, precision))
            gc.collect()
        print(times, file=sys.stderr, flush=True)
    best = {k: min(v) for k, v in times.items()}
    return {
        "steps": f"{BASE_STEPS} + {UPSAMPLE_STEPS}",
        "seconds": times,
        "best_s": best,
        "ratio_float32": best["project_float32"] / best["reference"],
        "ratio_auto": best["project_auto"] / best["reference"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reference-src", type=Path, required=True, help="a glide-text2im checkout")
    parser.add_argument("--weights-dir", type=Path, default=Path("/tmp/glide-random-weights"))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--skip", default="", help="forward and/or edit, comma-separated")
    args = parser.parse_args()
    if not (args.reference_src / "glide_text2im").is_dir():
        raise SystemExit(f"compare_reference: {args.reference_src} has no glide_text2im package folder")
    creation = _reference(args.reference_src)
    if not all(
        (args.weights_dir / RELEASED[n].filename).exists() for n in ("base-inpaint", "upsample-inpaint")
    ):
        helper = Path(__file__).with_name("edit_speed.py")
        child = [sys.executable, str(helper), "--write-weights-only", "--weights-dir", str(args.weights_dir)]
        subprocess.run(child, check=True)
    flags = cpu_flags()
    result: dict[str, Any] = {
        "machine": machine(),
        "cpu_flags": {f: f in flags for f in FLAGS},
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "native_bf16": native_bf16(),
    }
    print(result, file=sys.stderr, flush=True)
    skip = set(args.skip.split(","))
    if "forward" not in skip:
        result["forward"] = forwards(creation, args.weights_dir, args.repeat)
    if "edit" not in skip:
        result["edit_with_loading"] = edits(creation, args.weights_dir, args.repeat)
    emit(result)


if __name__ == "__main__":
    main()
