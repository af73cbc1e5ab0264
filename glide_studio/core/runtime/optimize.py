"""Making a loaded model fast on its device, without changing its results.

Measured choices (see ``benchmarks/forward_speed.py`` and the README's
performance section): channels-last activations help the 3×3 convolutions
that dominate the UNet, on oneDNN (CPU) and on cuDNN tensor cores (CUDA).
"""

from __future__ import annotations

from typing import Literal

import torch

from ..model import GlideModel

__all__ = ["Layout", "optimize_for_inference"]

Layout = Literal["auto", "contiguous", "channels_last"]


def optimize_for_inference(model: GlideModel, *, layout: Layout = "auto") -> GlideModel:
    """Eval mode, no gradients, and the fastest memory layout for the model's device."""
    model.eval().requires_grad_(False)
    if layout == "auto":
        layout = "channels_last"
    if layout == "channels_last":
        model.to(memory_format=torch.channels_last)
    if model.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return model
