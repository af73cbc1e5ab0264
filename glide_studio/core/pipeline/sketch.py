"""Sketch-guided edits (SDEdit on the inpainting model).

The masked region starts from the user's colour sketch noised to the
timestep that matches the strength, and only the remaining steps are sampled:
strength 1 starts from pure noise (the sketch is ignored), strength 0 takes a
single step at the least noisy timestep (the sketch is kept).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import Tensor

from ..diffusion import Diffusion
from ..imaging.region import Box
from .compositing import plan_region
from .tensors import resize

__all__ = ["noised_sketch", "sketch_diffusion", "sketch_tensor"]


def sketch_diffusion(diffusion: Diffusion, strength: float) -> Diffusion:
    """The same process cut to its ``round(strength · N)`` least noisy steps (at least one).

    Every coefficient of a respaced step depends only on that step and the one
    before, so the first indices of the full process are a process themselves.
    """
    count = min(diffusion.num_steps, max(1, round(strength * diffusion.num_steps)))
    if count == diffusion.num_steps:
        return diffusion
    cut = copy.copy(diffusion)
    total = diffusion.num_steps
    for name, value in vars(diffusion).items():
        if isinstance(value, (tuple, np.ndarray)) and len(value) == total:
            setattr(cut, name, value[:count])
    return cut


def sketch_tensor(
    sketch: np.ndarray,
    mask: np.ndarray,
    *,
    resolution: int,
    output_resolution: int,
    device: torch.device,
    box: Box | None = None,
) -> Tensor:
    """The sketch's pixels in the model's square (the same square as the edit), in [-1, 1]."""
    plan = plan_region(sketch, mask, output_resolution=output_resolution, box=box)
    return resize(plan.crop, resolution).clamp(-1, 1).to(device)


def noised_sketch(diffusion: Diffusion, sketch: Tensor, noise: Tensor) -> Tensor:
    """x_t of the sketch at the process's noisiest (last) index."""
    i = diffusion.num_steps - 1
    return diffusion.sqrt_alphas_cumprod[i] * sketch + diffusion.sqrt_one_minus_alphas_cumprod[i] * noise
