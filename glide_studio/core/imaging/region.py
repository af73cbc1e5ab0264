"""Region-of-interest geometry: which square of a photo the model gets to see.

GLIDE works on a small square. For a photo of any size, the square is centred
on the painted mask, large enough to hold it with some context around, and
kept inside the image where possible (shifted, not shrunk, near the edges).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Box", "covers_square", "mask_bounds", "region_of_interest"]


@dataclass(frozen=True)
class Box:
    """A rectangle in pixel coordinates; ``right`` and ``bottom`` are exclusive.

    May extend past the image (negative ``left``/``top`` or beyond its size)
    when a square cannot fit inside it.
    """

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def slices(self) -> tuple[slice, slice]:
        """Row and column slices (for a box inside the image)."""
        return slice(self.top, self.bottom), slice(self.left, self.right)

    def clipped(self, width: int, height: int) -> Box:
        return Box(max(self.left, 0), max(self.top, 0), min(self.right, width), min(self.bottom, height))

    def grown(self, margin: int) -> Box:
        return Box(self.left - margin, self.top - margin, self.right + margin, self.bottom + margin)


def mask_bounds(mask: np.ndarray) -> Box | None:
    """The smallest box holding every True pixel, or None for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return Box(int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def _place(start: int, size: int, side: int, limit: int) -> int:
    """Start of a span of ``side`` centred on [start, start+size), shifted inside [0, limit)."""
    begin = start + size // 2 - side // 2
    if side >= limit:
        return (limit - side) // 2  # centred overhang on both sides
    return min(max(begin, 0), limit - side)


def region_of_interest(
    mask_box: Box,
    image_width: int,
    image_height: int,
    *,
    context: float = 1.0,
    min_context: int = 16,
    min_side: int = 64,
) -> Box:
    """A square around ``mask_box`` with ``context`` × its longer side added around it,
    so that by default the mask spans about half of what the model sees.

    The square is at least ``min_side`` (but never larger than the image needs)
    and lies inside the image when it fits; otherwise it is centred on the
    image along the axis that is too short.
    """
    longest = max(mask_box.width, mask_box.height)
    side = longest + 2 * max(round(context * longest / 2), min_context)
    side = max(side, min(min_side, max(image_width, image_height)))
    side = min(side, max(image_width, image_height))
    left = _place(mask_box.left, mask_box.width, side, image_width)
    top = _place(mask_box.top, mask_box.height, side, image_height)
    return Box(left, top, left + side, top + side)


def covers_square(mask: np.ndarray) -> bool:
    """True when nothing in the model's square is known, so text-to-image can draw it all
    (a blank canvas, or a mask over the whole square)."""
    height, width = mask.shape
    bounds = mask_bounds(mask)
    if bounds is None:
        return False
    box = region_of_interest(bounds, width, height).clipped(width, height)
    return bool(np.all(mask[box.slices]))
