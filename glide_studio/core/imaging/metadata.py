"""Generation parameters stored in image files, readable by this and other tools.

Written twice: one text chunk per field (``prompt``, ``seed``, ...) for
programs, and a single ``parameters`` chunk in the layout popularised by the
A1111 web UI ("prompt" line, then "Key: value, ..."), which image browsers
and other diffusion tools already parse.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

__all__ = ["format_parameters", "parse_parameters", "save_image"]

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


def save_image(
    path: str | Path,
    rgb: np.ndarray,
    *,
    alpha: np.ndarray | None = None,
    info: Mapping[str, str] | None = None,
    quality: int = 95,
) -> Path:
    """Save by extension (PNG, JPEG, WebP); PNGs carry ``info`` as text chunks.

    Writes to a temporary file first, so a failed save never destroys an
    existing file of that name.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    formats = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
    if suffix not in formats:
        raise ValueError(f"{path}: unsupported file type {suffix or '(none)'}; use .png, .jpg or .webp")
    image = Image.fromarray(rgb)
    if alpha is not None and suffix != ".jpg" and suffix != ".jpeg":
        image.putalpha(Image.fromarray(alpha))
    options: dict[str, object] = {}
    if formats[suffix] == "PNG":
        chunks = PngImagePlugin.PngInfo()
        for key, value in (info or {}).items():
            chunks.add_itxt(key, str(value))
        if info:
            chunks.add_itxt("parameters", format_parameters(info))
        chunks.add_text("Software", SOFTWARE)
        options["pnginfo"] = chunks
    else:
        options["quality"] = quality
    tmp = path.with_name(f".{path.name}.saving")
    try:
        image.save(tmp, format=formats[suffix], **options)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
