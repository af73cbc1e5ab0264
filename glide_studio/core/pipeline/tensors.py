"""Model tensors from and to images: float NCHW in [-1, 1], resizing and feathering."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["feather_alpha", "from_tensor", "resize", "round_to_8bit", "to_tensor", "upsampler_low_res"]


def to_tensor(rgb: np.ndarray, *, device: torch.device | str = "cpu") -> Tensor:
    """RGB uint8 (H, W, 3) → float32 (1, 3, H, W) in [-1, 1]."""
    t = torch.from_numpy(np.array(rgb, dtype=np.uint8)).to(device)
    return t.permute(2, 0, 1)[None].float() / 127.5 - 1


def from_tensor(x: Tensor) -> np.ndarray:
    """float (N, 3, H, W) in [-1, 1] → uint8 (N, H, W, 3), rounded."""
    x = ((x.detach().float() + 1) * 127.5).round().clamp(0, 255)
    return x.to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def resize(x: Tensor, size: int | tuple[int, int]) -> Tensor:
    """Bicubic, antialiased when shrinking, for float NCHW tensors."""
    size = (size, size) if isinstance(size, int) else size
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrinking = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=shrinking)


def round_to_8bit(x: Tensor) -> Tensor:
    """The nearest 8-bit level of each value, still on the [-1, 1] scale (no clamping, as GLIDE)."""
    return ((x + 1) * 127.5).round() / 127.5 - 1


def upsampler_low_res(image: Tensor, size: int) -> Tensor:
    """What an upsampler is conditioned on: ``image`` at the base stage's size, as 8-bit levels.

    At run time the base stage's result is rounded the same way; training makes
    its inputs with this too, so both see exactly the same kind of picture.
    """
    return round_to_8bit(resize(image, size).clamp(-1, 1))


def feather_alpha(mask: Tensor, radius: int) -> Tensor:
    """1 on the mask, falling smoothly to 0 over ``2·radius`` pixels outside it.

    ``mask`` is float (N, 1, H, W) with 1 = regenerate. Dilating by the radius
    and then blurring twice with boxes of half that radius gives a nearly Gaussian
    ramp that is exactly 1 on the mask and exactly 0 from 2·radius outside it, so
    pixels beyond that band are never touched.
    """
    if radius <= 0:
        return mask.clone()
    # Square windows are separable: a row pass then a column pass costs O(k), not O(k²),
    # which matters for large regions (a wide feather on a large square).
    k = 2 * radius + 1
    grown = F.max_pool2d(mask, (1, k), stride=1, padding=(0, radius))
    grown = F.max_pool2d(grown, (k, 1), stride=1, padding=(radius, 0))
    half = max(radius // 2, 1)
    w = 2 * half + 1
    soft = grown
    for _ in range(2):
        soft = F.avg_pool2d(soft, (1, w), stride=1, padding=(0, half), count_include_pad=False)
        soft = F.avg_pool2d(soft, (w, 1), stride=1, padding=(half, 0), count_include_pad=False)
    return torch.maximum(soft, mask).clamp(0, 1)
