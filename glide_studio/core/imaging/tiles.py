"""The detail pass's geometry: pass sizes and the tiles each pass runs (no torch here).

A detail pass takes the square's result from one size to about four times it with
the upsampler, tile by tile, until the square's own size in photo pixels is
reached. Each tile is the upsampler's output size; tiles overlap by a quarter and
run in reading order, each cross-faded into those made before it; a tile without
mask pixels is not run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .region import Box, mask_bounds

__all__ = ["DetailPass", "DetailTile", "detail_passes", "detail_tile_count", "pool_any"]

OVERLAP = 0.25
"""Share of a tile that overlaps the tile before it: context for continuing its detail."""


MAX_FIRST_FACTOR = 5.0
"""The first pass may enlarge up to this (rather than add a pass of barely more than 1×)."""


def detail_sizes(side: int, output: int) -> list[int]:
    """The size the square reaches after each pass: the first at most 5× the last stage's
    ``output``, each later one 4× the one before, the last exactly ``side``; empty when
    ``output`` is already that large."""
    if side <= output:
        return []
    sizes = [side]
    while sizes[-1] > output * MAX_FIRST_FACTOR:
        sizes.append(-(-sizes[-1] // 4))
    return sizes[::-1]


def pool_any(mask: np.ndarray, size: int) -> np.ndarray:
    """A (size, size) bool mask: True where any pixel of the square ``mask``'s cell is True
    (so even a one-pixel stroke reaches every pass)."""
    side = mask.shape[0]
    if side == size:
        return mask.astype(bool)
    starts = (np.arange(size) * side) // size
    rows = np.logical_or.reduceat(mask.astype(bool), starts, axis=0)
    return np.logical_or.reduceat(rows, starts, axis=1)


def _starts(lo: int, hi: int, tile: int, limit: int, stride: int) -> list[int]:
    first = min(max(lo, 0), limit - tile)
    starts = [first]
    while starts[-1] + tile < hi and starts[-1] < limit - tile:
        starts.append(min(starts[-1] + stride, limit - tile))
    return starts


@dataclass(frozen=True)
class DetailTile:
    box: Box
    """The tile, in its pass's coordinates."""
    fade_left: int = 0
    """Width of the cross-fade from the tile made before it on the left (0: none)."""
    fade_top: int = 0
    """Height of the cross-fade from the tiles made before it above (0: none)."""

    def weight(self) -> np.ndarray:
        """(H, W) float32: how much of this tile's result to take over what earlier tiles made.
        It rises from 0 at an edge shared with an earlier tile, where a model's output is
        weakest, to 1 where the overlap ends."""
        x = np.ones(self.box.width, np.float32)
        y = np.ones(self.box.height, np.float32)
        if self.fade_left:
            x[: self.fade_left] = (np.arange(self.fade_left) + 0.5) / self.fade_left
        if self.fade_top:
            y[: self.fade_top] = (np.arange(self.fade_top) + 0.5) / self.fade_top
        return y[:, None] * x[None, :]


@dataclass(frozen=True)
class DetailPass:
    size: int
    """The square's size after this pass."""
    tiles: tuple[DetailTile, ...]
    """In running order."""


def plan_tiles(mask: np.ndarray, tile: int) -> tuple[DetailTile, ...]:
    """Overlapping tiles over ``mask`` (the pass's size) that hold mask pixels, in reading
    order, each with the cross-fades from the tiles made before it."""
    size = mask.shape[0]
    bounds = mask_bounds(mask)
    if bounds is None:
        return ()
    stride = max(1, round(tile * (1 - OVERLAP)))
    rows = _starts(bounds.top, bounds.bottom, tile, size, stride)
    cols = _starts(bounds.left, bounds.right, tile, size, stride)
    runs = {
        (r, c): mask[top : top + tile, left : left + tile].any()
        for r, top in enumerate(rows)
        for c, left in enumerate(cols)
    }
    chosen = []
    for r, top in enumerate(rows):
        for c, left in enumerate(cols):
            if not runs[(r, c)]:
                continue
            fade_left = cols[c - 1] + tile - left if c and runs[(r, c - 1)] else 0
            above = r and any(runs[(r - 1, k)] for k in (c - 1, c, c + 1) if 0 <= k < len(cols))
            fade_top = rows[r - 1] + tile - top if above else 0
            chosen.append(DetailTile(Box(left, top, left + tile, top + tile), fade_left, fade_top))
    return tuple(chosen)


def detail_passes(mask: np.ndarray, output: int) -> list[DetailPass]:
    """Every pass of the detail stage for a square ``mask`` (True = regenerate) whose
    last model stage made ``output`` px."""
    return [
        DetailPass(size, plan_tiles(pool_any(mask, size), output))
        for size in detail_sizes(mask.shape[0], output)
    ]


def detail_tile_count(mask: np.ndarray, output: int) -> int:
    """How many tile runs the detail stage makes (for time estimates before a run)."""
    return sum(len(p.tiles) for p in detail_passes(mask, output))


AUTO_ENLARGEMENT = 1.5
"""With ``detail="auto"``: the enlargement above which the pass runs (where it is fast enough)."""


def detail_runs(detail: str, enlargement: float, *, auto: bool) -> bool:
    """Whether the detail pass runs for a square enlarged ``enlargement``× after the last
    stage; ``auto``: the backend runs it by itself (a GPU, or the demo models)."""
    if enlargement <= 1:
        return False
    if detail == "on":
        return True
    return detail == "auto" and auto and enlargement > AUTO_ENLARGEMENT
