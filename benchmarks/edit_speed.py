"""End-to-end time and peak memory of one edit, for each preset, with full-size models.

The models have the released shapes and random weights; they are written once to
a weights folder under their released names and loaded the way the app loads them
(memory-mapped), so load time and resident memory are realistic too.

    python benchmarks/edit_speed.py [--presets balanced,fast] [--device cpu] [--weights-dir /tmp/glide-random]
        [--prepare] [--candidates 4 --in-turn on|off]

``--prepare``: before each run, what the studio does while the user types
(``Inpainter.prepare``: the prompt encoded, each model run once at the run's
batch size), timed on its own; the run's first preview then waits only for
its first step. Without it the first run also pays the one-off costs.
``--in-turn on|off``: make the candidates one after the other or as one batch
(default: what the engine chose, in turn on a CPU); the time to the first
finished candidate is reported beside the whole run's.
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import emit, machine, peak_rss_mb, random_released_model, rss_mb

from glide_studio.core.generation.backend import Preparation
from glide_studio.core.generation.events import Candidate, Finished, Preview
from glide_studio.core.generation.presets import PRESETS
from glide_studio.core.generation.request import EditRequest
from glide_studio.core.runtime.devices import choose_device
from glide_studio.core.runtime.engine import load_local_backend
from glide_studio.core.weights.checkpoints import save_checkpoint
from glide_studio.core.weights.released import RELEASED


def ensure_random_weights(folder: Path) -> None:
    """Write random full-size checkpoints under the released names, once (the tokenizer's
    vocabulary ships with the package, so the folder needs nothing else)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("base-inpaint", "upsample-inpaint"):
        path = folder / RELEASED[name].filename
        if not path.exists():
            model = random_released_model(name, device=torch.device("cpu"), dtype=torch.float32)
            save_checkpoint(path, model)
            del model


def photo() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8)
    mask = np.zeros((768, 1024), bool)
    mask[300:500, 400:650] = True
    return image, mask


def run_preset(
    engine, name: str, device: torch.device, *, prepare: bool = False, candidates: int = 1
) -> dict:
    preset = PRESETS[name]
    image, mask = photo()
    request = EditRequest(
        image=image,
        mask=mask,
        prompt="a red barn in a field",
        base=preset.base,
        upsample=preset.upsample,
        seed=1,
        candidates=candidates,
    )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    prepare_seconds = None
    if prepare:
        start = time.perf_counter()
        engine.prepare(
            Preparation(
                prompt=request.prompt, candidates=request.candidates, guidance_scale=request.guidance_scale
            )
        )
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        prepare_seconds = time.perf_counter() - start
    stage_times: dict[str, float] = {}
    start = time.perf_counter()
    last = start
    first_preview = first_candidate = None
    for event in engine.run(request):
        if isinstance(event, Preview):
            now = time.perf_counter()
            first_preview = first_preview or now - start
            stage_times[event.stage] = stage_times.get(event.stage, 0.0) + now - last
            last = now
        elif isinstance(event, Candidate):
            first_candidate = first_candidate or time.perf_counter() - start
        elif isinstance(event, Finished):
            total = time.perf_counter() - start
    result = {
        "preset": name,
        "base": f"{preset.base.sampler} {preset.base.steps}",
        "upsample": f"{preset.upsample.sampler} {preset.upsample.steps}",
        "seconds": total,
        "candidates": candidates,
        "in_turn": engine.inpainter.in_turn,
        "first_preview_s": first_preview,
        "first_candidate_s": first_candidate,
        "prepare_s": prepare_seconds,
        "stage_seconds": stage_times,
        "peak_rss_mb": peak_rss_mb(),
        "rss_mb_after": rss_mb(),
    }
    if device.type == "cuda":
        result["peak_cuda_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return result


class GcPauses:
    """Every garbage collection while active, with its generation and duration (gc.callbacks)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._start = 0.0

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.pauses.append((info["generation"], time.perf_counter() - self._start))

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def report(self) -> dict:
        longest = max((p for _, p in self.pauses), default=0.0)
        full = [p for g, p in self.pauses if g == 2]
        return {"collections": len(self.pauses), "full": len(full), "longest_ms": longest * 1000}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--presets", default="balanced")
    parser.add_argument("--device", default=None)
    parser.add_argument("--weights-dir", type=Path, default=Path("/tmp/glide-random-weights"))
    parser.add_argument("--precision", default="auto", help="auto, float32, bfloat16 or float16")
    parser.add_argument("--prepare", action="store_true", help="prepare each run first, as the studio does")
    parser.add_argument("--candidates", type=int, default=1)
    parser.add_argument("--in-turn", choices=("auto", "on", "off"), default="auto")
    parser.add_argument("--write-weights-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_weights_only:
        ensure_random_weights(args.weights_dir)
        return
    device = choose_device(args.device)
    needed = [RELEASED[n].filename for n in ("base-inpaint", "upsample-inpaint")]
    if not all((args.weights_dir / name).exists() for name in needed):
        # Written by a child process, so that making them does not count in this one's peak memory.
        child = [sys.executable, __file__, "--write-weights-only", "--weights-dir", str(args.weights_dir)]
        subprocess.run(child, check=True)
    pauses = GcPauses()
    start = time.perf_counter()
    with pauses:
        engine = load_local_backend(
            weights_dir=args.weights_dir, device=device, demo=False, precision=args.precision
        )
    load_seconds = time.perf_counter() - start
    rss_after_load = rss_mb()
    peak_after_load = peak_rss_mb()
    if args.in_turn != "auto":
        engine.inpainter.in_turn = args.in_turn == "on"
    runs = [
        run_preset(engine, name, device, prepare=args.prepare, candidates=args.candidates)
        for name in args.presets.split(",")
    ]
    emit(
        {
            "machine": machine(),
            "engine": engine.info.description,
            "precision": engine.info.precision,
            "load_seconds": load_seconds,
            "gc_during_load": pauses.report(),
            "rss_after_load_mb": rss_after_load,
            "peak_rss_after_load_mb": peak_after_load,
            "runs": runs,
        }
    )


if __name__ == "__main__":
    main()
