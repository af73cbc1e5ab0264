"""From a full-size photo to the model's square and back.

``RegionPlan`` crops the region of interest (padding where the square leaves
the image), tells each stage its known image and known mask at the stage's
resolution, and puts results back into the full-resolution original through a
feathered mask, leaving every pixel outside the feathered band untouched.

This is the one place where the UI's mask convention (True = regenerate) is
turned into the models' (1 = known).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..imaging.region import Box, mask_bounds, region_of_interest
from .tensors import feather_alpha, resize, to_tensor

__all__ = ["RegionPlan", "plan_region"]


@dataclass(frozen=True, eq=False)
class RegionPlan:
    box: Box
    """The square the model sees, in image coordinates (may overhang the image)."""
    crop: Tensor
    """(1, 3, S, S) float in [-1, 1]: the square's pixels, edges repeated outside the image."""
    generate: Tensor
    """(1, 1, S, S) float: 1 where the model generates (the mask, and any overhang)."""
    alpha: Tensor
    """(1, 1, S, S) float: the feathered blend weight of the result."""
    changed: Box
    """Where the result may differ from the original, clipped to the image."""

    @property
    def side(self) -> int:
        return self.box.width

    def known_inputs(self, resolution: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """The known image and known mask (1 = keep) at a stage's resolution.

        A model pixel is generated if any photo pixel under it is to be
        regenerated, so even a one-pixel mask reaches the model.
        """
        image = resize(self.crop, resolution).clamp(-1, 1).to(device)
        generate = F.adaptive_max_pool2d(self.generate, resolution).to(device)
        return image, 1 - generate

    def preview_alpha(self, resolution: int) -> np.ndarray:
        """The blend weight at a stage's resolution as uint8, for RGBA previews."""
        alpha = F.adaptive_avg_pool2d(self.alpha, resolution)[0, 0]
        return (alpha * 255).round().to(torch.uint8).numpy()

    def composite_patch(self, image: np.ndarray, result: Tensor) -> np.ndarray:
        """The pixels of ``changed`` after blending one (1, 3, R, R) result into ``image``."""
        up = resize(result.float().cpu(), self.side).clamp(-1, 1)
        up = (up[0] + 1) * 127.5  # (3, S, S) in 0..255
        c = self.changed
        rows = slice(c.top - self.box.top, c.bottom - self.box.top)
        cols = slice(c.left - self.box.left, c.right - self.box.left)
        original = torch.from_numpy(np.array(image[c.slices])).permute(2, 0, 1).float()
        alpha = self.alpha[0, :, rows, cols]
        # Where alpha is 0 this is the original value exactly, so untouched pixels stay bit-identical.
        blended = original + alpha * (up[:, rows, cols] - original)
        return blended.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()

    def composite_canvas(self, image: np.ndarray, canvas: np.ndarray) -> np.ndarray:
        """Like ``composite_patch`` for a result already at the square's size (S, S, 3) uint8
        (the detail pass's), blended through the same feathered mask."""
        c = self.changed
        rows = slice(c.top - self.box.top, c.bottom - self.box.top)
        cols = slice(c.left - self.box.left, c.right - self.box.left)
        original = np.asarray(image[c.slices], dtype=np.float32)
        alpha = self.alpha[0, 0, rows, cols].numpy()[..., None]
        blended = original + alpha * (canvas[rows, cols].astype(np.float32) - original)
        return np.clip(np.round(blended), 0, 255).astype(np.uint8)

    def inside(self, mask: np.ndarray) -> np.ndarray:
        """The mask cut to the square (S, S) bool, False where the square overhangs the picture."""
        return np.asarray(_crop_padded(mask, self.box, fill_mode="constant"), dtype=bool)

    def crop_pixels(self, image: np.ndarray) -> np.ndarray:
        """The square's pixels as uint8 (S, S, 3), edges repeated where it overhangs."""
        return np.ascontiguousarray(_crop_padded(image, self.box, fill_mode="edge"))

    def composite(self, image: np.ndarray, result: Tensor) -> np.ndarray:
        """A copy of the whole image with one result blended in."""
        out = image.copy()
        out[self.changed.slices] = self.composite_patch(image, result)
        return out


def _crop_padded(array: np.ndarray, box: Box, *, fill_mode: str, **pad_kwargs: object) -> np.ndarray:
    """The box's pixels; where it overhangs the image, pad (edge repeat or constant)."""
    height, width = array.shape[:2]
    inner = box.clipped(width, height)
    part = array[inner.slices]
    pad = [(inner.top - box.top, box.bottom - inner.bottom), (inner.left - box.left, box.right - inner.right)]
    pad += [(0, 0)] * (array.ndim - 2)
    if not any(before or after for before, after in pad):
        return part
    return np.pad(part, pad, mode=fill_mode, **pad_kwargs)  # type: ignore[call-overload]


def plan_region(
    image: np.ndarray, mask: np.ndarray, *, output_resolution: int, box: Box | None = None
) -> RegionPlan:
    """Prepare the crop, masks and feathering for the square ``box`` (the request's
    ``area()``; None: the automatic square around the mask).

    ``output_resolution`` is the last stage's size (e.g. 256): the feather band
    spans about two of its pixels, so that the seam is hidden at any zoom.
    """
    height, width = image.shape[:2]
    mask_box = mask_bounds(mask)
    if mask_box is None:
        raise ValueError("the mask is empty")
    if box is None:
        box = region_of_interest(mask_box, width, height)
    crop = to_tensor(_crop_padded(image, box, fill_mode="edge"))
    generate = _crop_padded(mask, box, fill_mode="constant", constant_values=True)
    generate_t = torch.from_numpy(np.array(generate, dtype=np.float32))[None, None]
    radius = max(1, round(box.width / output_resolution))
    inside = torch.from_numpy(np.array(_crop_padded(mask, box, fill_mode="constant"), dtype=np.float32))
    alpha = feather_alpha(inside[None, None], radius)
    changed = _changed_box(alpha, box, width, height)
    return RegionPlan(box=box, crop=crop, generate=generate_t, alpha=alpha, changed=changed)


def _changed_box(alpha: Tensor, box: Box, width: int, height: int) -> Box:
    touched = mask_bounds((alpha[0, 0] > 0).numpy())
    assert touched is not None
    return Box(
        touched.left + box.left, touched.top + box.top, touched.right + box.left, touched.bottom + box.top
    ).clipped(width, height)
