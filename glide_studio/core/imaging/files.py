"""Image and mask files to arrays.

Arrays are RGB uint8 (H, W, 3) and masks bool (H, W) with True = regenerate.
No torch here: the editing layer and the window use this before any model loads.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

__all__ = [
    "ImageError",
    "LoadedImage",
    "image_from_pil",
    "load_image",
    "load_mask",
    "mask_from_pil",
    "orient",
    "to_8bit",
]

MAX_PIXELS = 200_000_000
MAX_TEXT_CHUNK = 32 * 1024 * 1024
"""The largest text chunk a PNG may hold once inflated: ComfyUI workflows run to megabytes
(Pillow's own limit is 1 MB); the total of all of them is capped at ``MAX_TEXT_MEMORY``."""
MAX_TEXT_MEMORY = 96 * 1024 * 1024

PngImagePlugin.MAX_TEXT_CHUNK = max(PngImagePlugin.MAX_TEXT_CHUNK, MAX_TEXT_CHUNK)
PngImagePlugin.MAX_TEXT_MEMORY = max(PngImagePlugin.MAX_TEXT_MEMORY, MAX_TEXT_MEMORY)


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
    icc_profile: bytes | None = None
    """The source's colour profile, written back on save so colours do not shift."""
    exif: bytes | None = None
    """The source's EXIF block (Pillow layout) with its orientation set to 1: the pixels are upright."""
    rgb16: np.ndarray | None = None
    """uint16 (H, W, 3), upright, for 16-bit sources only; ``rgb`` is ``round(rgb16 / 257)``."""
    alpha16: np.ndarray | None = None
    """uint16 (H, W) for 16-bit sources with transparency."""
    frames: int = 1
    """Frames in the file (animated GIF/WebP, multi-page TIFF): only the first is edited."""

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]

    @property
    def bit_depth(self) -> int:
        """Bits per channel kept from the source: 16 when ``rgb16`` is set, else 8."""
        return 16 if self.rgb16 is not None else 8


def _to_8bit(array: np.ndarray) -> np.ndarray:
    """Scale 16-bit or 32-bit integer and float pixel data to 0..255."""
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind == "f":
        hi = 1.0 if array.max(initial=0.0) <= 1.0 else 255.0
        return np.clip(array / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
    hi = 65535 if array.max(initial=0) > 255 else 255
    return np.clip((array.astype(np.float64) * 255.0 / hi) + 0.5, 0, 255).astype(np.uint8)


def to_8bit(array16: np.ndarray) -> np.ndarray:
    """uint16 → nearest uint8 (``round(v / 257)``): the 8-bit view of a 16-bit picture."""
    return ((array16.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


_ORIENTATION = 0x0112
_GRAY16_MODES = ("I;16", "I;16B", "I;16L")


def orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to an (H, W, ...) array, as ``ImageOps.exif_transpose`` does."""
    steps = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, k=-1),
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
        8: lambda a: np.rot90(a, k=1),
    }
    step = steps.get(orientation)
    return array if step is None else np.ascontiguousarray(step(array))


def _normalised_exif(image: Image.Image) -> tuple[bytes | None, int]:
    """The EXIF block with orientation 1, and the orientation the pixels still need."""
    orientation = int(image.getexif().get(_ORIENTATION, 1) or 1)  # TIFF tags count too
    if "exif" not in image.info:
        return None, orientation
    exif = Image.Exif()  # a copy: the image's own is what exif_transpose reads
    exif.load(image.info["exif"])
    if _ORIENTATION in exif:
        exif[_ORIENTATION] = 1
    return exif.tobytes(), orientation


def image_from_pil(
    image: Image.Image, *, deep: tuple[np.ndarray, np.ndarray | None] | None = None
) -> LoadedImage:
    """Any Pillow mode → upright RGB uint8 plus alpha if the image has transparency.

    ``deep``: the file's 16-bit RGB (and alpha) as stored, which Pillow cannot
    return itself (``load_image`` reads it for 16-bit PNGs).
    """
    text = {str(k): str(v) for k, v in getattr(image, "text", {}).items()}
    source = {
        "format": image.format,
        "text": text,
        "icc_profile": image.info.get("icc_profile") or None,
        "frames": int(getattr(image, "n_frames", 1) or 1),
    }
    exif, orientation = _normalised_exif(image)
    source["exif"] = exif
    if deep is None and image.mode in _GRAY16_MODES:
        gray = np.asarray(image).astype(np.uint16)
        deep = (np.repeat(gray[..., None], 3, axis=2), None)
    if deep is not None:
        rgb16 = orient(deep[0], orientation)
        alpha16 = None if deep[1] is None or deep[1].min() == 65535 else orient(deep[1], orientation)
        alpha = None if alpha16 is None else to_8bit(alpha16)
        return LoadedImage(to_8bit(rgb16), alpha, rgb16=rgb16, alpha16=alpha16, **source)
    image = ImageOps.exif_transpose(image) or image
    mode = image.mode
    if mode in ("I", "F"):
        gray = _to_8bit(np.asarray(image))
        return LoadedImage(np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2)), **source)
    has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"))
        alpha = rgba[..., 3].copy()
        rgb = np.ascontiguousarray(rgba[..., :3])
        return LoadedImage(rgb, None if alpha.min() == 255 else alpha, **source)
    return LoadedImage(np.ascontiguousarray(np.asarray(image.convert("RGB"))), **source)


def _png_bit_depth(path: Path) -> int:
    """Bit depth from the PNG header (IHDR), 0 when the file is not a PNG."""
    with path.open("rb") as fh:
        head = fh.read(26)
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return 0
    return head[24]


def _read_png16(path: Path, image: Image.Image) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The exact 16-bit samples of a 16-bit colour (or grey + alpha) PNG.

    Pillow decodes 16-bit RGB(A) to 8 bits by keeping each sample's high byte.
    Decoding the same data again with the little-endian unpacker keeps the
    low byte instead (the PNG filters are undone the same way, as the pixel
    size is unchanged), and the two halves give the stored values. Other
    layouts (grey + alpha, transparency chunks) are read with pypng.
    """
    if image.mode in _GRAY16_MODES or _png_bit_depth(path) != 16:
        return None  # 8-bit, or 16-bit grey that Pillow reads exactly
    with Image.open(path) as again:
        if image.mode not in ("RGB", "RGBA") or len(again.tile) != 1:
            return _read_png16_pypng(path)
        name, extents, offset, rawmode = again.tile[0]
        if rawmode != f"{image.mode};16B":
            return _read_png16_pypng(path)
        again.tile = [(name, extents, offset, f"{image.mode};16L")]
        again.load()
        deep = (np.asarray(image).astype(np.uint16) << 8) | np.asarray(again)
    if image.mode == "RGBA":
        return np.ascontiguousarray(deep[..., :3]), np.ascontiguousarray(deep[..., 3])
    return deep, None


def _read_png16_pypng(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Any 16-bit PNG through pypng (pure Python: slower, but every layout)."""
    import png  # only for 16-bit files Pillow cannot read exactly

    try:
        width, height, rows, meta = png.Reader(filename=str(path)).asDirect()
        planes = int(meta["planes"])
        pixels = np.vstack([np.asarray(row, np.uint16) for row in rows]).reshape(height, width, planes)
    except png.Error as exc:
        raise ValueError(str(exc)) from exc
    colour = pixels[..., :3] if planes >= 3 else np.repeat(pixels[..., :1], 3, axis=2)
    alpha = pixels[..., -1] if meta["alpha"] else None
    return np.ascontiguousarray(colour), None if alpha is None else np.ascontiguousarray(alpha)


def _open(path: str | Path) -> Image.Image:
    path = Path(path)
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image file")
    if not path.is_file():
        raise ImageError(f"{path}: file not found")
    if not os.access(path, os.R_OK):
        raise ImageError(f"{path}: cannot be read (permission denied)")
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < MAX_PIXELS:
        # Pillow's own bomb limit (89 MP) is below ours: let ours decide what is too large.
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            if image.width * image.height > MAX_PIXELS:
                raise ImageError(f"{path}: {image.width}×{image.height} is too large to edit")
            image.load()
        return image
    except PermissionError:
        raise ImageError(f"{path}: cannot be read (permission denied)") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file (or a format Pillow cannot read)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{path}: the image is too large to edit") from None
    except MemoryError:
        raise ImageError(f"{path}: not enough memory to open it") from None
    except ImageError:
        raise
    except Exception as exc:  # Pillow raises many types for hostile files; each is the file's fault
        raise ImageError(f"{path}: the image is damaged or truncated ({_one_line(exc)})") from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def load_image(path: str | Path) -> LoadedImage:
    """Read a picture with what saving it again needs: profile, EXIF, 16-bit samples."""
    image = _open(path)
    try:
        deep = _read_png16(Path(path), image) if image.format == "PNG" else None
    except MemoryError:
        raise ImageError(f"{path}: not enough memory to open it") from None
    except Exception as exc:  # a hostile file's fault, whatever the type
        raise ImageError(f"{path}: the image is damaged or truncated ({_one_line(exc)})") from None
    try:
        return image_from_pil(image, deep=deep)
    except MemoryError:
        raise ImageError(f"{path}: not enough memory to open it") from None
    except Exception as exc:
        raise ImageError(f"{path}: the image is damaged or truncated ({_one_line(exc)})") from None


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
