"""Small wrappers around a denoiser: classifier-free guidance and the known-region paste."""

from __future__ import annotations

import torch
from torch import Tensor

from .gaussian import X0Transform
from .samplers import Denoiser

__all__ = ["classifier_free_guidance", "paste_known_region"]


def classifier_free_guidance(model_fn: Denoiser, scale: float, *, channels: int = 3) -> Denoiser:
    """Guide B rows with one batched call over 2B rows (conditional, then unconditional).

    ``model_fn`` must be conditioned on 2B rows ordered [prompt rows, empty-prompt rows].
    Epsilon becomes uncond + scale·(cond − uncond); the variance channels stay the
    conditional rows' own.
    """

    def guided(x: Tensor, timesteps: Tensor) -> Tensor:
        out = model_fn(torch.cat([x, x]), torch.cat([timesteps, timesteps]))
        cond, uncond = out.chunk(2)
        eps = uncond[:, :channels] + scale * (cond[:, :channels] - uncond[:, :channels])
        return torch.cat([eps, cond[:, channels:]], dim=1)

    return guided


def paste_known_region(known_image: Tensor, known_mask: Tensor) -> X0Transform:
    """Force every x0 prediction to equal the known image where ``known_mask`` is 1."""
    keep = known_mask.float()
    known = known_image * keep
    generate = 1 - keep

    def paste(x0: Tensor) -> Tensor:
        return x0 * generate + known

    return paste
