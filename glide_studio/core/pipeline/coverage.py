"""Which models a request needs: does the model's square hold anything known?"""

from __future__ import annotations

import numpy as np

from ..generation.request import EditRequest
from ..imaging.region import mask_bounds, region_of_interest

__all__ = ["covers_square"]


def covers_square(request: EditRequest) -> bool:
    """True when nothing in the model's square is known, so text-to-image can draw it all
    (a blank canvas, or a mask over the whole square)."""
    mask = request.mask
    height, width = mask.shape
    bounds = mask_bounds(mask)
    if bounds is None:
        return False
    box = region_of_interest(bounds, width, height).clipped(width, height)
    return bool(np.all(mask[box.slices]))
