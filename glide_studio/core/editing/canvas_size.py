"""Growing the canvas for outpainting, as an operation that can be undone.

The new area repeats the nearest edge (a neutral start for the live preview;
it is regenerated anyway) and becomes the mask, so that a run fills exactly
it. Undo crops back and restores the mask as it was. Edits made before the
extension keep their coordinates: the history is linear, so they are only
ever undone or redone on the canvas they were made on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..imaging.region import Box

__all__ = ["MAX_SIDE", "CanvasExtension", "crop_to", "pad_edges"]

MAX_SIDE = 16384


@dataclass(frozen=True, eq=False)
class CanvasExtension:
    left: int
    top: int
    right: int
    bottom: int
    old_width: int
    old_height: int
    old_mask: bytes = field(repr=False)
    """The whole mask before the extension, bit-packed."""
    before_state: int = 0
    after_state: int = 0

    @property
    def inner(self) -> Box:
        """Where the old canvas lies in the new one."""
        return Box(self.left, self.top, self.left + self.old_width, self.top + self.old_height)

    @property
    def label(self) -> str:
        sides = [
            f"{name} {value}"
            for name, value in zip(
                ("left", "top", "right", "bottom"),
                (self.left, self.top, self.right, self.bottom),
                strict=True,
            )
            if value
        ]
        return "Extend canvas: " + ", ".join(sides)

    def restored_mask(self) -> np.ndarray:
        count = self.old_width * self.old_height
        bits = np.unpackbits(np.frombuffer(self.old_mask, np.uint8), count=count).astype(bool)
        return bits.reshape(self.old_height, self.old_width)


def pad_edges(array: np.ndarray, ext: CanvasExtension, *, constant: int | None = None) -> np.ndarray:
    """``array`` (H, W[, C]) on the larger canvas: edges repeated, or ``constant`` in the new area."""
    pad = [(ext.top, ext.bottom), (ext.left, ext.right)] + [(0, 0)] * (array.ndim - 2)
    if constant is None:
        return np.pad(array, pad, mode="edge")
    return np.pad(array, pad, mode="constant", constant_values=constant)


def crop_to(array: np.ndarray, ext: CanvasExtension) -> np.ndarray:
    """The old canvas cut back out of the larger one."""
    return np.ascontiguousarray(array[ext.inner.slices])
