"""The canvas of a request that makes new picture: a grown canvas (outpainting) or a blank one.

Plain geometry on arrays: the command line and the window build the request's
picture and mask with these before any model is involved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .request import RequestError

__all__ = ["MAX_EXTENSION", "Extension", "blank_canvas", "extend_canvas"]

MAX_EXTENSION = 4096
"""The most pixels one side may grow by in one go."""


@dataclass(frozen=True, kw_only=True)
class Extension:
    """How many pixels to add on each side of the picture."""

    left: int = 0
    top: int = 0
    right: int = 0
    bottom: int = 0

    def __post_init__(self) -> None:
        for name in ("left", "top", "right", "bottom"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= MAX_EXTENSION:
                raise RequestError(
                    f"extension {name}={value!r} must be a whole number from 0 to {MAX_EXTENSION}"
                )
        if not (self.left or self.top or self.right or self.bottom):
            raise RequestError("the extension adds nothing: give at least one side a positive size")

    @classmethod
    def parse(cls, text: str) -> Extension:
        """``"L,T,R,B"`` in pixels, e.g. ``"0,0,256,0"`` to extend to the right."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 4 or not all(p.isdigit() for p in parts):
            raise RequestError(f"--extend {text!r} must be four whole numbers L,T,R,B (e.g. 0,0,256,0)")
        left, top, right, bottom = (int(p) for p in parts)
        return cls(left=left, top=top, right=right, bottom=bottom)


def extend_canvas(image: np.ndarray, extension: Extension) -> tuple[np.ndarray, np.ndarray]:
    """The picture on the larger canvas and the mask of the new area (True = generate).

    New pixels repeat the nearest edge: they are regenerated anyway, and the
    repeat gives the live preview a neutral start.
    """
    e = extension
    canvas = np.pad(image, ((e.top, e.bottom), (e.left, e.right), (0, 0)), mode="edge")
    mask = np.ones(canvas.shape[:2], bool)
    mask[e.top : e.top + image.shape[0], e.left : e.left + image.shape[1]] = False
    return canvas, mask


def blank_canvas(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A new mid-grey picture and a mask over all of it: the request for File → New."""
    if not (1 <= width <= 16384 and 1 <= height <= 16384):
        raise ValueError(f"a new canvas must be 1 to 16384 pixels a side, got {width}x{height}")
    return np.full((height, width, 3), 127, np.uint8), np.ones((height, width), bool)
