"""Mask operations as pure numpy functions: grow, shrink, a soft edge, and select by colour.

Masks are bool arrays (True = regenerate). Every function returns a new array
and leaves its inputs alone, so the window can turn any of them into one undo
step (the patch between the mask before and after).
"""

from __future__ import annotations

import numpy as np

from .region import Box, mask_bounds
from .transparency import blur

__all__ = ["grow", "magic_wand", "shrink", "soft_inside", "soften_edge"]

MAX_STEP = 512
"""The most pixels one grow or shrink may move the edge (more is a different mask, not an edit)."""


def _row_distance(mask: np.ndarray) -> np.ndarray:
    """Per pixel, the distance along its row to the nearest True pixel (a large number if none)."""
    height, width = mask.shape
    far = np.int64(4 * (width + height) + 8)
    columns = np.broadcast_to(np.arange(width), mask.shape)
    left = np.where(mask, columns, -far)
    left = np.maximum.accumulate(left, axis=1)
    right = np.where(mask, columns, 2 * far)
    right = np.minimum.accumulate(right[:, ::-1], axis=1)[:, ::-1]
    return np.minimum(columns - left, right - columns)


def grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    """The mask grown by ``pixels`` in every direction (a round brush run along its edge)."""
    mask = np.asarray(mask, dtype=bool)
    if not 0 <= pixels <= MAX_STEP:
        raise ValueError(f"grow or shrink by 0 to {MAX_STEP} pixels, not {pixels}")
    box = mask_bounds(mask)
    if pixels == 0 or box is None:
        return mask.copy()
    height, width = mask.shape
    outer = Box(box.left - pixels, box.top - pixels, box.right + pixels, box.bottom + pixels)
    outer = outer.clipped(width, height)
    part = mask[outer.slices]
    across = _row_distance(part)
    grown = np.zeros_like(part)
    limit = pixels * pixels
    for dy in range(-pixels, pixels + 1):
        reach = int(np.floor(np.sqrt(limit - dy * dy)))
        src = slice(max(0, -dy), part.shape[0] - max(0, dy))
        dst = slice(max(0, dy), part.shape[0] - max(0, -dy))
        grown[dst] |= across[src] <= reach
    out = mask.copy()
    out[outer.slices] = grown
    return out


def shrink(mask: np.ndarray, pixels: int) -> np.ndarray:
    """The mask shrunk by ``pixels`` from every edge inside the picture (the picture's border is
    not an edge: a mask that reaches it keeps reaching it)."""
    mask = np.asarray(mask, dtype=bool)
    box = mask_bounds(mask)
    if box is None or pixels == 0:
        return grow(mask, pixels)  # checks the size; nothing to shrink
    # Only unmasked pixels within ``pixels`` of the mask matter: work on its box with that margin.
    outer = _margin_box(mask, box, pixels + 1)
    part = mask[outer.slices]
    out = np.zeros_like(mask)
    out[outer.slices] = ~grow(~part, pixels) & part
    return out


def _margin_box(mask: np.ndarray, box: Box, margin: int) -> Box:
    height, width = mask.shape
    return Box(box.left - margin, box.top - margin, box.right + margin, box.bottom + margin).clipped(
        width, height
    )


def soft_inside(mask: np.ndarray, box: Box, radius: int) -> np.ndarray:
    """Over ``box``: 0 outside the mask, about ½ on its edge, rising to 1 ``radius`` pixels in
    (the mask blurred, kept inside it)."""
    mask = np.asarray(mask, dtype=bool)
    outer = _margin_box(mask, box, 2 * radius + 2)
    part = mask[outer.slices]
    weight = np.where(part, np.clip(blur(part, max(1, radius // 2)), 0, 1), 0).astype(np.float32)
    rows = slice(box.top - outer.top, box.bottom - outer.top)
    cols = slice(box.left - outer.left, box.right - outer.left)
    return weight[rows, cols]


def soften_edge(
    original: np.ndarray, pixels: np.ndarray, mask: np.ndarray, box: Box, radius: int
) -> np.ndarray:
    """``pixels`` (the result over ``box``) faded into ``original`` near the mask's edge."""
    weight = soft_inside(mask, box, radius)[..., None]
    o = np.asarray(original, dtype=np.float32)
    out = o + weight * (np.asarray(pixels, dtype=np.float32) - o)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _spread_rows(reached: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Every run of ``allowed`` pixels along a row that holds a reached pixel, filled."""
    height, width = allowed.shape
    flat = allowed.ravel()
    starts = flat & ~np.concatenate([[False], flat[:-1]])
    starts[::width] = flat[::width]
    labels = np.cumsum(starts) * flat
    hit = np.zeros(int(labels.max()) + 1, dtype=bool)
    hit[labels[reached.ravel() & flat]] = True
    hit[0] = False
    return hit[labels].reshape(height, width)


def magic_wand(
    rgb: np.ndarray, x: int, y: int, *, tolerance: int = 32, contiguous: bool = True
) -> np.ndarray:
    """The pixels whose colour is within ``tolerance`` (0..255, on every channel) of the pixel at
    (x, y): only those connected to it (edge to edge) when ``contiguous``, else all of them."""
    rgb = np.asarray(rgb)
    height, width = rgb.shape[:2]
    if not (0 <= x < width and 0 <= y < height):
        raise ValueError(f"the point {x}, {y} lies outside the {width}×{height} picture")
    if not 0 <= tolerance <= 255:
        raise ValueError(f"the colour tolerance is 0 to 255, not {tolerance}")
    seed = rgb[y, x].astype(np.int16)
    similar = np.all(np.abs(rgb.astype(np.int16) - seed) <= tolerance, axis=2)
    if not contiguous:
        return similar
    reached = np.zeros_like(similar)
    reached[y, x] = True
    while True:
        spread = _spread_rows(reached, similar)
        spread = _spread_rows(spread.T.copy(), similar.T.copy()).T
        if np.array_equal(spread, reached):
            return spread
        reached = spread
