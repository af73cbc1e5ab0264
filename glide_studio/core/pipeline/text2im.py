"""Text-to-image: the released ``base`` and ``upsample`` models in the edit pipeline.

The text-to-image models read no known image, so they serve requests whose
model square is generated entirely (a blank canvas, or a mask over the whole
square). They run through the inpainting pipeline's stages unchanged: the
conditioning simply has no inpainting channels and the known-region paste
keeps nothing, so every sampler, preset, preview and candidate behaves alike.
"""

from __future__ import annotations

from ..imaging.region import covers_square
from .inpaint import Inpainter

__all__ = ["TextToImage", "covers_square"]


class TextToImage(Inpainter):
    """The two text-to-image stages, behind the same ``run`` as inpainting."""

    BASE_VARIANTS = ("base",)
    UPSAMPLER_VARIANTS = ("upsample",)
