"""Making a loaded model fast on its device, without changing its results.

Measured choices (see ``benchmarks/forward_speed.py`` and the README's
performance section): channels-last activations help the 3×3 convolutions
that dominate the UNet, on oneDNN (CPU) and on cuDNN tensor cores (CUDA).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import torch

from ..model import GlideModel

__all__ = ["Layout", "optimize_for_inference", "quiet_gc"]

Layout = Literal["auto", "contiguous", "channels_last"]


def optimize_for_inference(model: GlideModel, *, layout: Layout = "auto") -> GlideModel:
    """Eval mode, no gradients, and the fastest memory layout for the model's device.

    Weights still read from a memory-mapped checkpoint after the layout change
    are copied out too: a mapping that stays alive for a few tensors keeps every
    page of the file that was ever read resident beside the copies.
    """
    model.eval().requires_grad_(False)
    if model.dtype == torch.bfloat16:
        model.keep_text_float32()
    if layout == "auto":
        layout = "channels_last"
    if layout == "channels_last":
        model.to(memory_format=torch.channels_last)
    if model.device.type == "cpu":
        _unmap(model)
    if model.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return model


def _unmap(model: GlideModel) -> None:
    """Replace tensors backed by a file mapping with ordinary copies, so the mapping closes."""
    ranges = _file_mappings()
    if not ranges:
        return
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            address = tensor.untyped_storage().data_ptr()
            if any(start <= address < end for start, end in ranges):
                tensor.data = tensor.data.clone()


def _file_mappings(maps: Path = Path("/proc/self/maps")) -> list[tuple[int, int]]:
    """Address ranges of this process's file-backed mappings (Linux; empty elsewhere)."""
    try:
        lines = maps.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    ranges = []
    for line in lines:
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5].startswith("/"):
            start, _, end = fields[0].partition("-")
            ranges.append((int(start, 16), int(end, 16)))
    return ranges


@contextmanager
def quiet_gc() -> Iterator[None]:
    """Keep the garbage collector from pausing the process while models load.

    Building and checking a model creates thousands of modules and tensors, and
    each full collection scans them together with everything the application
    already holds (pauses long enough to stall the window). Automatic collection is
    off while loading; what existed before and the loaded models are frozen
    (left out of later collections): the models live as long as the session,
    and refcounting still frees them when they are replaced.
    """
    enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
