"""Is the painted mask something the model can fill?

The model sees the region at its own small resolution (64 px for the base
stage), where a model pixel is regenerated when any photo pixel under it is
masked. Thin strokes on a large photo become one-pixel lines there, which the
model fills with striped junk. This measures how much of the mask, seen at the
model's resolution, is such a thin line, so the window can warn before a run.
"""

from __future__ import annotations

import numpy as np

from .region import mask_bounds, region_of_interest

__all__ = ["THIN_FRACTION", "thin_fraction"]

THIN_FRACTION = 0.7
"""Warn when more than this share of the regenerated model pixels lie on lines one pixel wide."""


def _model_grid(mask: np.ndarray, side: int) -> np.ndarray:
    """The mask at ``side`` × ``side``: True where any pixel of the cell is masked (max pooling)."""
    height, width = mask.shape
    rows = np.linspace(0, height, side + 1).astype(int)
    cols = np.linspace(0, width, side + 1).astype(int)
    grid = np.zeros((side, side), dtype=bool)
    for i in range(side):
        band = mask[rows[i] : max(rows[i + 1], rows[i] + 1)]
        if band.size:
            hits = np.add.reduceat(band.any(axis=0), cols[:-1].clip(max=width - 1)) > 0
            grid[i] = hits[:side]
    return grid


def _erode(grid: np.ndarray) -> np.ndarray:
    padded = np.pad(grid, 1, constant_values=False)
    out = grid.copy()
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            out &= padded[dy : dy + grid.shape[0], dx : dx + grid.shape[1]]
    return out


def thin_fraction(mask: np.ndarray, *, model_side: int = 64) -> float:
    """Share (0–1) of the model pixels to regenerate that have no fully masked 3×3 neighbourhood."""
    box = mask_bounds(mask)
    if box is None:
        return 0.0
    height, width = mask.shape
    roi = region_of_interest(box, width, height).clipped(width, height)
    grid = _model_grid(np.asarray(mask[roi.slices], dtype=bool), model_side)
    total = int(grid.sum())
    if total == 0:
        return 0.0
    return 1.0 - int(_erode(grid).sum()) / total
