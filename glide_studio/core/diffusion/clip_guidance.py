"""Noised-CLIP guidance as the GLIDE release does it.

At every ancestral step the mean moves by variance × the gradient, with
respect to x_t, of exp(logit_scale)·(text embedding · image embedding of x_t
at its original timestep), times a scale. Only the ancestral sampler has a
mean to shift; the pipeline refuses the others.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .samplers import Denoiser

__all__ = ["clip_guidance_gradient"]


def clip_guidance_gradient(clip: torch.nn.Module, text_embeddings: Tensor, scale: float) -> Denoiser:
    """A mean shift (x_t, original timesteps) → scale · ∂(logit_scale · z_text·z_image)/∂x_t.

    ``clip`` is a :class:`~glide_studio.core.model.clip.NoisedClip`;
    ``text_embeddings`` holds one normalised row per sample (or one row for all).
    Samples of another size than CLIP's are resized (differentiably) first.
    Works from inside ``torch.inference_mode``: the gradient is taken on a copy.
    """
    size = clip.config.image_size
    with torch.inference_mode(False):
        text = text_embeddings.detach().clone().float()

    def gradient(x: Tensor, timesteps: Tensor) -> Tensor:
        with torch.inference_mode(False), torch.enable_grad():
            x_var = x.detach().clone().float().requires_grad_(True)
            seen = x_var
            if seen.shape[-1] != size:
                seen = F.interpolate(seen, size=(size, size), mode="bilinear", align_corners=False)
            image = clip.image_embeddings(seen, timesteps.detach().clone())
            loss = clip.logit_scale * (text * image).sum()
            grad = torch.autograd.grad(loss, x_var)[0]
        return (grad * scale).to(x.dtype)

    return gradient
