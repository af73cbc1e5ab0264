"""Images in and out: files to arrays, arrays to model tensors, resizing, feathering.

Arrays are RGB uint8 (H, W, 3) and masks bool (H, W) with True = regenerate.
Tensors are float NCHW in [-1, 1], as the models want them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

__all__ = [
    "ImageError",
    "LoadedImage",
    "feather_alpha",
    "from_tensor",
    "image_from_pil",
    "load_image",
    "load_mask",
    "mask_from_pil",
    "resize",
    "to_tensor",
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


# -- tensors -------------------------------------------------------------------------


def to_tensor(rgb: np.ndarray, *, device: torch.device | str = "cpu") -> Tensor:
    """RGB uint8 (H, W, 3) → float32 (1, 3, H, W) in [-1, 1]."""
    t = torch.from_numpy(np.array(rgb, dtype=np.uint8)).to(device)
    return t.permute(2, 0, 1)[None].float() / 127.5 - 1


def from_tensor(x: Tensor) -> np.ndarray:
    """float (N, 3, H, W) in [-1, 1] → uint8 (N, H, W, 3), rounded."""
    x = ((x.detach().float() + 1) * 127.5).round().clamp(0, 255)
    return x.to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def resize(x: Tensor, size: int | tuple[int, int]) -> Tensor:
    """Bicubic, antialiased when shrinking, for float NCHW tensors."""
    size = (size, size) if isinstance(size, int) else size
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrinking = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=shrinking)


def feather_alpha(mask: Tensor, radius: int) -> Tensor:
    """1 on the mask, falling smoothly to 0 over ``2·radius`` pixels outside it.

    ``mask`` is float (N, 1, H, W) with 1 = regenerate. Dilating by the radius
    and then blurring twice with boxes of half that radius gives a nearly Gaussian
    ramp that is exactly 1 on the mask and exactly 0 from 2·radius outside it, so
    pixels beyond that band are never touched.
    """
    if radius <= 0:
        return mask.clone()
    k = 2 * radius + 1
    grown = F.max_pool2d(mask, k, stride=1, padding=radius)
    half = max(radius // 2, 1)
    soft = grown
    for _ in range(2):
        soft = F.avg_pool2d(soft, 2 * half + 1, stride=1, padding=half, count_include_pad=False)
    return torch.maximum(soft, mask).clamp(0, 1)
