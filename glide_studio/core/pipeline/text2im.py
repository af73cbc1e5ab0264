"""Text-to-image: the released ``base`` and ``upsample`` models in the edit pipeline.

The text-to-image models read no known image, so they serve requests whose
model square is generated entirely (a blank canvas, or a mask over the whole
square). They run through the inpainting pipeline's stages unchanged: the
conditioning simply has no inpainting channels and the known-region paste
keeps nothing, so every sampler, preset, preview and candidate behaves alike.
"""

from __future__ import annotations

import numpy as np

from .coverage import covers_square
from .inpaint import Inpainter

__all__ = ["TextToImage", "blank_canvas", "covers_square"]


def blank_canvas(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A new mid-grey picture and a mask over all of it: the request for File → New."""
    if not (1 <= width <= 16384 and 1 <= height <= 16384):
        raise ValueError(f"a new canvas must be 1 to 16384 pixels a side, got {width}x{height}")
    return np.full((height, width, 3), 127, np.uint8), np.ones((height, width), bool)


class TextToImage(Inpainter):
    """The two text-to-image stages, behind the same ``run`` as inpainting."""

    BASE_VARIANTS = ("base",)
    UPSAMPLER_VARIANTS = ("upsample",)
