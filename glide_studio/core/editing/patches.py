"""Undo data for a document: compact patches of the mask and image, and applied-edit records.

An undo step must not hold whole copies of a 12-megapixel photo or mask, so
every change is stored as the smallest box that contains it, with the pixels
before and after (masks bit-packed, eight pixels per byte).
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..imaging.region import Box, mask_bounds

__all__ = ["AppliedEdit", "EditRecord", "ImagePatch", "MaskPatch", "changed_box", "make_thumbnail"]


def changed_box(before: np.ndarray, after: np.ndarray, within: Box) -> Box | None:
    """The box (in image coordinates) where ``before`` and ``after`` differ, or None.

    ``before`` and ``after`` are the pixels of ``within``; for RGB arrays a pixel
    differs when any channel does.
    """
    diff = before != after
    if diff.ndim == 3:
        diff = diff.any(axis=2)
    inner = mask_bounds(diff)
    if inner is None:
        return None
    return Box(
        within.left + inner.left, within.top + inner.top, within.left + inner.right, within.top + inner.bottom
    )


def _sub(array: np.ndarray, outer: Box, inner: Box) -> np.ndarray:
    """The part of ``array`` (the pixels of ``outer``) that covers ``inner``."""
    return array[
        inner.top - outer.top : inner.bottom - outer.top, inner.left - outer.left : inner.right - outer.left
    ]


@dataclass(frozen=True, eq=False)
class MaskPatch:
    """One mask change: the box it touched and its bits before and after."""

    box: Box
    _before: np.ndarray = field(repr=False)
    _after: np.ndarray = field(repr=False)

    @classmethod
    def capture(cls, before: np.ndarray, after: np.ndarray, within: Box) -> MaskPatch | None:
        """A patch for the pixels of ``within`` (bool arrays), shrunk to what changed; None if nothing did."""
        box = changed_box(before, after, within)
        if box is None:
            return None
        b, a = _sub(before, within, box), _sub(after, within, box)
        return cls(box, np.packbits(b, axis=None), np.packbits(a, axis=None))

    def _unpack(self, packed: np.ndarray) -> np.ndarray:
        count = self.box.width * self.box.height
        return np.unpackbits(packed, count=count).astype(bool).reshape(self.box.height, self.box.width)

    @property
    def before(self) -> np.ndarray:
        return self._unpack(self._before)

    @property
    def after(self) -> np.ndarray:
        return self._unpack(self._after)

    @property
    def nbytes(self) -> int:
        return int(self._before.nbytes + self._after.nbytes)


@dataclass(frozen=True, eq=False)
class ImagePatch:
    """One image change: the box, its RGB pixels before and after, and the image states it links.

    A picture with an alpha channel also keeps the box's alpha before and after
    (generated pixels are opaque where they were pasted)."""

    box: Box
    before: np.ndarray = field(repr=False)
    after: np.ndarray = field(repr=False)
    before_state: int = 0
    after_state: int = 0
    alpha_before: np.ndarray | None = field(default=None, repr=False)
    alpha_after: np.ndarray | None = field(default=None, repr=False)

    @property
    def nbytes(self) -> int:
        extra = sum(a.nbytes for a in (self.alpha_before, self.alpha_after) if a is not None)
        return int(self.before.nbytes + self.after.nbytes + extra)


@dataclass(frozen=True, eq=False)
class EditRecord:
    """Everything needed to regenerate an edit exactly from the picture it was made on.

    ``settings`` are the request's settings for this candidate alone (its own
    seed, one candidate); the mask is kept bit-packed inside its bounds.
    """

    settings: dict[str, Any]
    mask_box: Box
    mask_bits: bytes = field(repr=False)
    region: Box
    """The square the model saw, in image coordinates."""
    model: str = ""
    sketch: np.ndarray | None = field(default=None, repr=False)
    """A sketch-guided edit's sketch over the region (clipped to the picture); None otherwise."""

    @classmethod
    def capture(
        cls,
        settings: dict[str, Any],
        mask: np.ndarray,
        region: Box,
        model: str = "",
        *,
        sketch: np.ndarray | None = None,
    ) -> EditRecord:
        box = mask_bounds(mask)
        if box is None:
            raise ValueError("an edit record needs a non-empty mask")
        bits = np.packbits(np.asarray(mask[box.slices], dtype=bool), axis=None).tobytes()
        inner = region.clipped(mask.shape[1], mask.shape[0])
        kept = None if sketch is None else np.array(np.asarray(sketch)[inner.slices], dtype=np.uint8)
        return cls(dict(settings), box, bits, region, model, kept)

    def sketch_over(self, picture: np.ndarray) -> np.ndarray | None:
        """The whole-picture sketch to regenerate with: the recorded region over ``picture``."""
        if self.sketch is None:
            return None
        out = np.array(picture, copy=True)
        out[self.region.clipped(picture.shape[1], picture.shape[0]).slices] = self.sketch
        return out

    def mask(self, width: int, height: int) -> np.ndarray:
        """The whole mask (True = regenerated) for a picture of this size."""
        out = np.zeros((height, width), dtype=bool)
        count = self.mask_box.width * self.mask_box.height
        bits = np.unpackbits(np.frombuffer(self.mask_bits, np.uint8), count=count).astype(bool)
        out[self.mask_box.slices] = bits.reshape(self.mask_box.height, self.mask_box.width)
        return out

    def to_json(self) -> dict[str, Any]:
        """For PNG text chunks and project manifests: the mask compressed and base64-encoded."""
        b = self.mask_box
        return {
            "settings": self.settings,
            "mask_box": [b.left, b.top, b.right, b.bottom],
            "mask": base64.b64encode(zlib.compress(self.mask_bits, 9)).decode("ascii"),
            "region": [self.region.left, self.region.top, self.region.right, self.region.bottom],
            "model": self.model,
            **({"sketch": _png_base64(self.sketch)} if self.sketch is not None else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EditRecord:
        """Raises ``ValueError`` for malformed data.

        Sizes are checked before anything is inflated: the mask may hold no more
        bits than its box, the box and region are bounded, and the sketch may be
        no larger than the region, so a hostile record cannot claim gigabytes.
        """
        try:
            if not isinstance(data, Mapping):
                raise TypeError("the record is not a table")
            box, region = _bounded_box(data["mask_box"], "mask box"), _bounded_box(data["region"], "region")
            expected = (box.width * box.height + 7) // 8
            packed = base64.b64decode(_text(data["mask"], "mask"), validate=True)
            inflater = zlib.decompressobj()
            bits = inflater.decompress(packed, expected + 1)
            if len(bits) != expected or inflater.unconsumed_tail or not inflater.eof:
                raise ValueError("the mask does not match its box")
            sketch = None
            if data.get("sketch"):
                sketch = _array_from_base64(
                    _text(data["sketch"], "sketch"), limit=(region.width, region.height)
                )
            settings = data["settings"]
            if not isinstance(settings, Mapping):
                raise TypeError("its settings are not a table")
            model = data.get("model", "")
            return cls(
                dict(settings), box, bits, region, model if isinstance(model, str) else str(model), sketch
            )
        except (KeyError, TypeError, zlib.error, ValueError, OSError, OverflowError, EOFError) as exc:
            raise ValueError(f"malformed edit record: {exc}") from None


RECORD_MAX_SIDE = 65536
"""No recorded box or region may be larger than this a side."""
RECORD_MAX_PIXELS = 200_000_000
"""Nor cover more pixels than the largest picture that can be opened (``files.MAX_PIXELS``)."""
SKETCH_MAX_PIXELS = 64_000_000


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"its {what} is not text")
    return value


def _bounded_box(values: Any, what: str) -> Box:
    """Four integers (not bools, not floats), a box of positive, bounded size."""
    if not isinstance(values, list | tuple) or len(values) != 4:
        raise ValueError(f"its {what} is not four numbers")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ValueError(f"its {what} is not four whole numbers")
    box = Box(*values)
    if not (0 < box.width <= RECORD_MAX_SIDE and 0 < box.height <= RECORD_MAX_SIDE):
        raise ValueError(f"its {what} {values} is empty or too large")
    if box.width * box.height > RECORD_MAX_PIXELS:
        raise ValueError(f"its {what} {values} is too large")
    if max(abs(v) for v in values) > 4 * RECORD_MAX_SIDE:
        raise ValueError(f"its {what} {values} lies far outside any picture")
    return box


@dataclass(frozen=True, eq=False)
class AppliedEdit:
    """A candidate committed to the picture, with what is needed to show, record and undo it."""

    parameters: dict[str, str]
    """``EditRequest.describe()`` for this candidate alone (its own seed, one candidate)."""
    image: ImagePatch
    mask: MaskPatch | None
    """The mask that was cleared when the edit was applied (restored on undo)."""
    thumbnail: np.ndarray = field(repr=False)
    """RGB uint8, at most 96 px on the longer side: the edited region after the edit."""
    record: EditRecord | None = None
    """How to regenerate it (None for edits read from a file that did not record it)."""

    @property
    def prompt(self) -> str:
        return self.parameters.get("prompt", "")

    @property
    def seed(self) -> int:
        return int(self.parameters.get("seed", "0"))

    @property
    def box(self) -> Box:
        return self.image.box


def _png_base64(rgb: np.ndarray) -> str:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _array_from_base64(text: str, *, limit: tuple[int, int] | None = None) -> np.ndarray:
    """A base64 PNG as RGB; ``limit`` (width, height): refused, before decoding, when larger."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(text, validate=True)), formats=["PNG"]) as image:
        too_many = image.width * image.height > SKETCH_MAX_PIXELS
        if too_many or (limit is not None and (image.width > limit[0] or image.height > limit[1])):
            raise ValueError(f"its sketch is {image.width}×{image.height}, larger than its region")
        return np.asarray(image.convert("RGB")).copy()


def make_thumbnail(rgb: np.ndarray, size: int = 96) -> np.ndarray:
    """A small copy (area-averaged) whose longer side is at most ``size``; never enlarged."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(rgb))
    image.thumbnail((size, size), Image.Resampling.BOX)
    return np.asarray(image).copy()
