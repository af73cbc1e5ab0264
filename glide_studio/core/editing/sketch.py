"""The sketch layer: colours painted inside the region, for sketch-guided edits.

Painting a colour also masks those pixels, so the sketch is always inside the
region to regenerate. A run then starts from the picture with the sketch's
colours on it, noised to the chosen strength (SDEdit on the inpainting model).
The layer is allocated on the first colour stroke, and applying an edit clears
it (undo brings it back), like the mask.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..imaging.region import Box, mask_bounds

__all__ = ["SketchLayer", "SketchPatch"]


@dataclass(frozen=True, eq=False)
class SketchPatch:
    """One change of the sketch layer inside ``box``: colours and coverage before and after."""

    box: Box
    before: tuple[np.ndarray, np.ndarray] = field(repr=False)
    after: tuple[np.ndarray, np.ndarray] = field(repr=False)


class SketchLayer:
    def __init__(self, width: int, height: int) -> None:
        self.colours = np.zeros((height, width, 3), np.uint8)
        self.painted = np.zeros((height, width), bool)

    @property
    def empty(self) -> bool:
        return not self.painted.any()

    @property
    def bounds(self) -> Box | None:
        return mask_bounds(self.painted)

    def paint(
        self,
        box: Box,
        where: np.ndarray,
        colour: tuple[int, int, int],
        *,
        weight: np.ndarray | None = None,
        picture: np.ndarray | None = None,
    ) -> None:
        """Paint ``colour`` where ``where``; with ``weight`` (0..1, a soft brush) blended into what
        is there: the sketch's colour, or ``picture``'s (the pixels of ``box``) where none yet."""
        where = where[: box.height, : box.width]
        if weight is None or picture is None:
            self.colours[box.slices][where] = colour
        else:
            painted = self.painted[box.slices]
            under = np.where(painted[..., None], self.colours[box.slices], picture).astype(np.float32)
            w = np.clip(weight[: box.height, : box.width], 0, 1)[..., None]
            blended = np.round(under + w * (np.asarray(colour, np.float32) - under)).astype(np.uint8)
            self.colours[box.slices][where] = blended[where]
        self.painted[box.slices][where] = True

    def region(self, box: Box) -> tuple[np.ndarray, np.ndarray]:
        return self.colours[box.slices].copy(), self.painted[box.slices].copy()

    def put(self, box: Box, state: tuple[np.ndarray, np.ndarray]) -> None:
        self.colours[box.slices], self.painted[box.slices] = state

    def over(self, rgb: np.ndarray) -> np.ndarray:
        """The picture with the sketch's colours painted on it."""
        return np.where(self.painted[..., None], self.colours, rgb)
