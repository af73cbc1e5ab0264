"""Image and mask files to arrays.

Arrays are RGB uint8 (H, W, 3) and masks bool (H, W) with True = regenerate.
No torch here: the editing layer and the window use this before any model loads.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "ImageError",
    "LoadedImage",
    "image_from_pil",
    "load_image",
    "load_mask",
    "mask_from_pil",
]

MAX_PIXELS = 200_000_000


class ImageError(ValueError):
    """A file that cannot be used as an image or mask; the message names it."""


@dataclass(frozen=True, eq=False)
class LoadedImage:
    rgb: np.ndarray
    """RGB uint8 (H, W, 3), upright (EXIF orientation applied)."""
    alpha: np.ndarray | None = None
    """uint8 (H, W) when the file had transparency, else None."""
    format: str | None = None
    text: dict[str, str] = field(default_factory=dict)
    """Text chunks (PNG) such as generation parameters written by this or other tools."""

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]


def _to_8bit(array: np.ndarray) -> np.ndarray:
    """Scale 16-bit or 32-bit integer and float pixel data to 0..255."""
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind == "f":
        hi = 1.0 if array.max(initial=0.0) <= 1.0 else 255.0
        return np.clip(array / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
    hi = 65535 if array.max(initial=0) > 255 else 255
    return np.clip((array.astype(np.float64) * 255.0 / hi) + 0.5, 0, 255).astype(np.uint8)


def image_from_pil(image: Image.Image) -> LoadedImage:
    """Any Pillow mode → upright RGB uint8 plus alpha if the image has transparency."""
    text = {str(k): str(v) for k, v in getattr(image, "text", {}).items()}
    fmt = image.format
    image = ImageOps.exif_transpose(image) or image
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        gray = _to_8bit(np.asarray(image))
        rgb = np.repeat(gray[..., None], 3, axis=2)
        return LoadedImage(np.ascontiguousarray(rgb), None, fmt, text)
    has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"))
        alpha = rgba[..., 3].copy()
        rgb = np.ascontiguousarray(rgba[..., :3])
        return LoadedImage(rgb, None if alpha.min() == 255 else alpha, fmt, text)
    return LoadedImage(np.ascontiguousarray(np.asarray(image.convert("RGB"))), None, fmt, text)


def _open(path: str | Path) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            if image.width * image.height > MAX_PIXELS:
                raise ImageError(f"{path}: {image.width}×{image.height} is too large to edit")
            image.load()
        return image
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file (or a format Pillow cannot read)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{path}: the image is too large to edit") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: the image is damaged or truncated ({exc})") from None


def load_image(path: str | Path) -> LoadedImage:
    return image_from_pil(_open(path))


def mask_from_pil(image: Image.Image) -> np.ndarray:
    """White (bright) and opaque = regenerate; black or transparent = keep."""
    image = ImageOps.exif_transpose(image) or image
    if image.mode == "1":
        return np.asarray(image, dtype=bool).copy()
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return _to_8bit(np.asarray(image)) >= 128
    rgba = np.asarray(image.convert("RGBA"))
    lum = rgba[..., :3].astype(np.uint16).sum(axis=2) >= 3 * 128
    return lum & (rgba[..., 3] >= 128)


def load_mask(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask file; ``size`` (width, height) must match when given."""
    mask = mask_from_pil(_open(path))
    if size is not None and (mask.shape[1], mask.shape[0]) != tuple(size):
        raise ImageError(
            f"{path}: the mask is {mask.shape[1]}×{mask.shape[0]} but the image is {size[0]}×{size[1]}"
        )
    return mask
