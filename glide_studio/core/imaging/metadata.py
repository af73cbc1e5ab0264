"""Generation parameters stored in image files, readable by this and other tools.

Written twice: one text chunk per field (``prompt``, ``seed``, ...) for
programs, and a single ``parameters`` chunk in the layout popularised by the
A1111 web UI ("prompt" line, then "Key: value, ..."), which image browsers
and other diffusion tools already parse.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, PngImagePlugin

from .files import to_8bit
from .safe_write import atomic_write, sweep_temporaries

__all__ = ["format_parameters", "merge_16bit", "parse_parameters", "png_text_fields", "save_image"]

SOFTWARE = "GLIDE Studio"
_SUMMARY_KEYS = (
    ("steps", "Steps"),
    ("sampler", "Sampler"),
    ("guidance", "CFG scale"),
    ("seed", "Seed"),
    ("size", "Size"),
    ("model", "Model"),
    ("upsample_steps", "Upsample steps"),
    ("upsample_sampler", "Upsample sampler"),
    ("upsample_temperature", "Upsample temperature"),
)


def format_parameters(info: Mapping[str, str]) -> str:
    """``prompt`` on the first line, then the known fields as ``Key: value, ...``."""
    fields = [f"{label}: {info[key]}" for key, label in _SUMMARY_KEYS if info.get(key)]
    return f"{info.get('prompt', '')}\n" + ", ".join(fields)


def parse_parameters(text: str) -> dict[str, str]:
    """Inverse of ``format_parameters`` (values must not contain ", ")."""
    prompt, _, rest = text.rpartition("\n") if "\n" in text else (text, "", "")
    labels = {label: key for key, label in _SUMMARY_KEYS}
    info = {"prompt": prompt}
    for part in rest.split(", "):
        label, sep, value = part.partition(": ")
        if sep and label in labels:
            info[labels[label]] = value
    return info


def merge_16bit(rgb: np.ndarray, source16: np.ndarray) -> np.ndarray:
    """16-bit pixels for an edited 8-bit picture of a 16-bit source.

    Every sample the edit left alone (its 8-bit value is still the rounded
    source value) keeps its exact 16-bit value; edited samples are scaled
    (``v * 257``), the best that 8-bit model output can give.
    """
    if rgb.shape != source16.shape:
        raise ValueError(f"the 16-bit source is {source16.shape}, the picture {rgb.shape}: they must match")
    scaled = rgb.astype(np.uint16) * np.uint16(257)
    return np.where(rgb == to_8bit(source16), source16, scaled)


def _png_chunk_list(
    info: Mapping[str, str] | None, icc_profile: bytes | None, exif: bytes | None
) -> list[tuple[bytes, bytes]]:
    """iCCP, eXIf and iTXt chunks as Pillow writes them, for the 16-bit writer."""
    chunks: list[tuple[bytes, bytes]] = []
    if icc_profile:
        chunks.append((b"iCCP", b"ICC Profile\0\0" + zlib.compress(icc_profile)))
    if exif:
        chunks.append((b"eXIf", exif[6:] if exif.startswith(b"Exif\0\0") else exif))
    for key, value in _text_fields(info):
        chunks.append((b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + value.encode("utf-8")))
    chunks.append((b"tEXt", b"Software\0" + SOFTWARE.encode("latin-1")))
    return chunks


def _valid_key(key: str) -> bool:
    """PNG keywords: 1-79 Latin-1 printable characters, no leading, trailing or double spaces."""
    if not 1 <= len(key) <= 79 or key != key.strip(" ") or "  " in key:
        return False
    return all(32 <= ord(ch) <= 126 or 161 <= ord(ch) <= 255 for ch in key)


def png_text_fields(info: Mapping[str, str] | None) -> tuple[list[tuple[str, str]], list[str]]:
    """The text chunks a PNG can hold, and the keys it cannot (dropped, for the caller to say so).

    ``info`` plus its ``parameters`` summary; the summary and ``Software``
    are always written anew.
    """
    written = ("parameters", "Software")
    fields, dropped = [], []
    for key, value in (info or {}).items():
        key, value = str(key), str(value)
        if key in written:
            continue
        try:
            value.encode("utf-8")
            ok = _valid_key(key)
        except UnicodeError:
            ok = False
        if ok:
            fields.append((key, value))
        else:
            dropped.append(key)
    if info:
        summary = format_parameters(info)
        with_summary = summary.encode("utf-8", "replace").decode("utf-8")
        fields.append(("parameters", with_summary))
    return fields, dropped


def _text_fields(info: Mapping[str, str] | None) -> list[tuple[str, str]]:
    return png_text_fields(info)[0]


def _write_png16(
    out: BinaryIO, rgb16: np.ndarray, alpha16: np.ndarray | None, chunks: list[tuple[bytes, bytes]]
) -> None:
    """A 16-bit-per-channel PNG (pypng encodes the pixels; our chunks go before the data)."""
    import png  # Pillow cannot write 16-bit RGB; imported only when such a file is saved

    pixels = rgb16 if alpha16 is None else np.dstack([rgb16, alpha16])
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1)
    writer = png.Writer(width, height, greyscale=False, alpha=alpha16 is not None, bitdepth=16)
    encoded = io.BytesIO()
    writer.write_packed(encoded, (row.astype(">u2").tobytes() for row in rows))  # PNG is big-endian
    encoded.seek(0)
    written = list(png.Reader(file=encoded).chunks())
    png.write_chunks(out, written[:1] + chunks + written[1:])


def save_image(
    path: str | Path,
    rgb: np.ndarray,
    *,
    alpha: np.ndarray | None = None,
    info: Mapping[str, str] | None = None,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    source16: np.ndarray | None = None,
    alpha16: np.ndarray | None = None,
    quality: int = 95,
) -> Path:
    """Save by extension (PNG, JPEG, WebP), keeping what the source had.

    ``icc_profile`` and ``exif`` (as ``LoadedImage`` holds them) are written
    to every format; PNGs also carry ``info`` as text chunks. ``source16``
    (and ``alpha16``): the 16-bit pixels of a 16-bit source; a PNG is then
    written with 16 bits per channel, unedited samples exact (``merge_16bit``).
    JPEG and WebP hold 8 bits only. Writes a temporary file first, so a failed
    save never destroys an existing file of that name.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    formats = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
    if suffix not in formats:
        raise ValueError(f"{path}: unsupported file type {suffix or '(none)'}; use .png, .jpg or .webp")
    fmt = formats[suffix]
    sweep_temporaries(path.parent, name=path.name)  # what a killed save of this file left
    with atomic_write(path) as out:
        if fmt == "PNG" and source16 is not None:
            rgb16 = merge_16bit(rgb, source16)
            if alpha is not None:
                alpha16 = alpha.astype(np.uint16) * 257 if alpha16 is None else merge_16bit(alpha, alpha16)
            _write_png16(
                out,
                rgb16,
                alpha16 if alpha is not None else None,
                _png_chunk_list(info, icc_profile, exif),
            )
        else:
            _save_8bit(out, fmt, rgb, alpha, info=info, icc_profile=icc_profile, exif=exif, quality=quality)
    return path


def _save_8bit(
    out: BinaryIO,
    fmt: str,
    rgb: np.ndarray,
    alpha: np.ndarray | None,
    *,
    info: Mapping[str, str] | None,
    icc_profile: bytes | None,
    exif: bytes | None,
    quality: int,
) -> None:
    image = Image.fromarray(rgb)
    if alpha is not None and fmt != "JPEG":
        image.putalpha(Image.fromarray(alpha))
    options: dict[str, object] = {}
    if icc_profile:
        options["icc_profile"] = icc_profile
    if exif:
        options["exif"] = exif
    if fmt == "PNG":
        chunks = PngImagePlugin.PngInfo()
        for key, value in _text_fields(info):
            chunks.add_itxt(key, value)
        chunks.add_text("Software", SOFTWARE)
        options["pnginfo"] = chunks
    else:
        options["quality"] = quality
    image.save(out, format=fmt, **options)
