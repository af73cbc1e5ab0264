"""Pasting generated pixels into a picture with an alpha channel.

The model draws opaque pixels. Pasted into a transparent part of a picture they
must become visible: the result is laid *over* the original, its weight (the
coverage) being the feathered mask the compositing used, so the hole becomes
fully opaque and the feather band fades into whatever was there. Colours are
un-premultiplied again, so a transparent pixel's hidden colour never tints the
result. Numpy only (no torch): the session, the window and the CLI share it.
"""

from __future__ import annotations

import numpy as np

from .region import Box

__all__ = ["blur", "coverage", "feather", "feather_radius", "paste_over"]


def _max_filter_1d(array: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """Running maximum over ``2·radius + 1`` samples along ``axis`` (edges not extended)."""
    out = array.copy()
    length = array.shape[axis]
    for shift in range(1, min(radius, length - 1) + 1):
        ahead = [slice(None)] * array.ndim
        behind = [slice(None)] * array.ndim
        ahead[axis], behind[axis] = slice(shift, None), slice(None, -shift)
        np.maximum(out[tuple(behind)], array[tuple(ahead)], out=out[tuple(behind)])
        np.maximum(out[tuple(ahead)], array[tuple(behind)], out=out[tuple(ahead)])
    return out


def _box_mean_1d(array: np.ndarray, half: int, axis: int) -> np.ndarray:
    """Mean over a window of ``2·half + 1`` samples, counting only those inside the array."""
    padded = np.moveaxis(array, axis, 0).astype(np.float64)
    total = np.concatenate([np.zeros((1, *padded.shape[1:])), np.cumsum(padded, axis=0)])
    n = padded.shape[0]
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    shape = (n,) + (1,) * (padded.ndim - 1)
    mean = (total[hi] - total[lo]) / (hi - lo).reshape(shape)
    return np.moveaxis(mean, 0, axis).astype(np.float32)


def feather(mask: np.ndarray, radius: int) -> np.ndarray:
    """1 on ``mask``, falling smoothly to 0 within ``2·radius`` pixels outside it (float32).

    The same ramp as the pipeline's torch ``feather_alpha``: grow by the radius,
    then blur twice with boxes of half of it; exactly 1 on the mask.
    """
    inside = np.asarray(mask, dtype=np.float32)
    if radius <= 0:
        return inside.copy()
    grown = _max_filter_1d(_max_filter_1d(inside, radius, 1), radius, 0)
    return np.clip(np.maximum(blur(grown, max(radius // 2, 1)), inside), 0, 1)


def blur(array: np.ndarray, half: int) -> np.ndarray:
    """Two passes of a (2·half + 1)-pixel box blur: a nearly Gaussian one, float32."""
    soft = np.asarray(array, dtype=np.float32)
    for _ in range(2):
        soft = _box_mean_1d(_box_mean_1d(soft, half, 1), half, 0)
    return soft


def feather_radius(region: Box, resolution: int) -> int:
    """The pipeline's feather radius for a region square drawn at ``resolution`` pixels."""
    return max(1, round(region.width / max(resolution, 1)))


def coverage(mask: np.ndarray, box: Box, radius: int) -> np.ndarray:
    """The feathered mask over ``box`` (float32 in 0..1), computed from a margin around it."""
    height, width = mask.shape
    margin = 2 * radius + 2
    outer = Box(box.left - margin, box.top - margin, box.right + margin, box.bottom + margin)
    outer = outer.clipped(width, height)
    soft = feather(mask[outer.slices], radius)
    return soft[box.top - outer.top : box.bottom - outer.top, box.left - outer.left : box.right - outer.left]


def paste_over(
    original: np.ndarray, alpha: np.ndarray, patch: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """RGB and alpha (uint8) of a pasted result laid over a transparent original.

    ``patch`` is what the compositing made for opaque pictures, ``original +
    weight · (generated − original)``; ``weight`` (0..1) is its blend weight.
    The new alpha is ``weight + (1 − weight) · alpha``; where the original was
    opaque the colours are exactly ``patch``.
    """
    o = np.asarray(original, dtype=np.float32)
    p = np.asarray(patch, dtype=np.float32)
    a = np.asarray(alpha, dtype=np.float32)[..., None] / 255
    w = np.clip(np.asarray(weight, dtype=np.float32), 0, 1)[..., None]
    out_alpha = w + (1 - w) * a
    colour = np.where(out_alpha > 0, (p - (1 - w) * (1 - a) * o) / np.maximum(out_alpha, 1e-6), p)
    rgb = np.clip(np.round(colour), 0, 255).astype(np.uint8)
    return rgb, np.clip(np.round(out_alpha[..., 0] * 255), 0, 255).astype(np.uint8)
