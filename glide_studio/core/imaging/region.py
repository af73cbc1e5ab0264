"""Region-of-interest geometry: which square of a photo the model gets to see.

GLIDE works on a small square. For a photo of any size, the square is centred
on the painted mask, large enough to hold it with some context around, and
kept inside the image where possible (shifted, not shrunk, near the edges).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Box",
    "Region",
    "ResolvedRegion",
    "covers_square",
    "mask_bounds",
    "region_of_interest",
    "resolve_region",
]

MAX_CONTEXT = 20.0
"""The largest context multiple: beyond it the mask would be a speck in the model's square."""


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


@dataclass(frozen=True, kw_only=True)
class Region:
    """A square the user chose for the model to see: ``size`` pixels from (``left``, ``top``).

    Part of the request (recorded in files, sent to servers), so it is plain integers.
    """

    left: int
    top: int
    size: int

    def __post_init__(self) -> None:
        for name in ("left", "top", "size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"the generation area's {name} must be a whole number, got {value!r}")
            if abs(value) > 1 << 20:
                raise ValueError(f"the generation area's {name} ({value}) is beyond any picture")
        if self.size < 1:
            raise ValueError(f"the generation area's size must be at least 1 pixel, got {self.size}")

    @property
    def box(self) -> Box:
        return Box(self.left, self.top, self.left + self.size, self.top + self.size)

    @classmethod
    def parse(cls, text: str) -> Region:
        """``"LEFT,TOP,SIZE"`` (the command line's and the records' form)."""
        parts = [p.strip() for p in str(text).split(",")]
        if len(parts) != 3:
            raise ValueError(f"a generation area is LEFT,TOP,SIZE in pixels, got {text!r}")
        try:
            left, top, size = (int(p) for p in parts)
        except ValueError:
            raise ValueError(f"a generation area is LEFT,TOP,SIZE in whole pixels, got {text!r}") from None
        return cls(left=left, top=top, size=size)

    def __str__(self) -> str:
        return f"{self.left},{self.top},{self.size}"


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


@dataclass(frozen=True)
class ResolvedRegion:
    """The square the model will see, and what was changed from what the user asked for."""

    box: Box
    notes: tuple[str, ...] = ()
    """Sentences for the user: how the chosen square was grown or moved, and why."""
    automatic: bool = True

    def enlargement(self, output_resolution: int) -> float:
        """How many photo pixels one pixel of the last stage's output covers."""
        return self.box.width / output_resolution


def _shift_inside(start: int, side: int, limit: int) -> int:
    if side >= limit:
        return min(max(start, limit - side), 0)
    return min(max(start, 0), limit - side)


def resolve_region(
    mask: np.ndarray,
    *,
    region: Region | None = None,
    context: float = 1.0,
    min_side: int = 64,
) -> ResolvedRegion:
    """The square for a run: the user's ``region`` made valid, or the automatic one.

    A chosen square is grown to hold the whole mask and to be at least ``min_side``
    (the model's input), and moved inside the picture where it fits; each change
    is told in ``notes``. Raises ``ValueError`` (with a message for the user) for
    an empty mask, a square wholly outside the picture, or a context out of range.
    """
    height, width = mask.shape
    bounds = mask_bounds(mask)
    if bounds is None:
        raise ValueError("the mask is empty: paint the region to regenerate first")
    if not 0 < context <= MAX_CONTEXT:
        raise ValueError(f"context must be above 0 and at most {MAX_CONTEXT:g} (times the mask's size)")
    if region is None:
        return ResolvedRegion(region_of_interest(bounds, width, height, context=context, min_side=min_side))
    box = region.box
    if box.right <= 0 or box.bottom <= 0 or box.left >= width or box.top >= height:
        raise ValueError(
            f"the generation area {region.size}×{region.size} at ({region.left}, {region.top}) lies "
            f"outside the {width}×{height} picture"
        )
    notes = []
    side = region.size
    need = max(bounds.width, bounds.height)
    floor = min(min_side, max(width, height))
    if side < max(need, floor):
        why = "to hold the whole mask" if need >= floor else "the model's input size"
        notes.append(f"the generation area was grown from {side} to {max(need, floor)} px ({why})")
        side = max(need, floor)
    # Keep the user's corner where possible; grown squares still hold the mask.
    left = min(max(box.left, bounds.right - side), bounds.left)
    top = min(max(box.top, bounds.bottom - side), bounds.top)
    moved_left, moved_top = _shift_inside(left, side, width), _shift_inside(top, side, height)
    if (moved_left, moved_top) != (left, top) and moved_left <= bounds.left and moved_top <= bounds.top:
        left, top = moved_left, moved_top
        if (left, top) != (box.left, box.top) and not notes:
            notes.append("the generation area was moved inside the picture")
    return ResolvedRegion(Box(left, top, left + side, top + side), tuple(notes), automatic=False)


def covers_square(mask: np.ndarray, box: Box | None = None) -> bool:
    """True when nothing in the model's square (``box``, else the automatic one) is known,
    so text-to-image can draw it all (a blank canvas, or a mask over the whole square)."""
    height, width = mask.shape
    bounds = mask_bounds(mask)
    if bounds is None:
        return False
    if box is None:
        box = region_of_interest(bounds, width, height)
    box = box.clipped(width, height)
    return bool(np.all(mask[box.slices]))
