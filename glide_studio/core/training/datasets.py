"""Training data: captioned image folders or lists, and the built-in synthetic scenes.

A source hands the trainer a list of examples for each step, chosen from the
step number and a seeded generator only, so a resumed run draws exactly the
examples the uninterrupted run would have drawn.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .synthetic import SyntheticScenes

__all__ = [
    "IMAGE_SUFFIXES",
    "CaptionedImages",
    "DatasetError",
    "Example",
    "ExampleSource",
    "SyntheticSource",
    "open_source",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
_LIST_NAMES = ("captions.csv", "captions.jsonl", "metadata.csv", "metadata.jsonl")
_FILE_KEYS = ("file", "file_name", "image", "path")
_CAPTION_KEYS = ("caption", "text", "prompt")


class DatasetError(ValueError):
    """The data cannot be read; the message says which file and why."""


@dataclass(frozen=True)
class Example:
    image: np.ndarray
    """uint8 (size, size, 3)."""
    caption: str
    box: tuple[int, int, int, int] | None = None
    """Where the caption's object is, when known (synthetic scenes)."""


class ExampleSource(Protocol):
    image_size: int

    @property
    def has_boxes(self) -> bool: ...

    def batch(self, *, step: int, count: int, rng: np.random.Generator) -> list[Example]: ...


@dataclass(frozen=True, kw_only=True)
class SyntheticSource:
    """Scenes ``step*count ... step*count+count-1``: never repeated, never random."""

    scenes: SyntheticScenes

    @property
    def image_size(self) -> int:
        return self.scenes.image_size

    @property
    def has_boxes(self) -> bool:
        return True

    def batch(self, *, step: int, count: int, rng: np.random.Generator) -> list[Example]:
        del rng  # the scene index decides everything
        out = []
        for index in range(step * count, (step + 1) * count):
            scene = self.scenes[index]
            out.append(Example(image=scene.image, caption=scene.caption, box=scene.box))
        return out


def _square_resize(path: Path, size: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            w, h = image.size
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            image = image.crop((left, top, left + side, top + side))
            image = image.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0)
            return np.asarray(image, dtype=np.uint8).copy()
    except (OSError, UnidentifiedImageError) as exc:
        raise DatasetError(f"{path}: cannot read the image ({exc})") from None


class CaptionedImages:
    """Images with captions, centre-cropped and resized to the model's size on first use."""

    def __init__(self, items: Sequence[tuple[Path, str]], *, image_size: int, cache_limit: int = 50_000):
        if not items:
            raise DatasetError("the dataset holds no captioned images")
        self.items = tuple(items)
        self.image_size = image_size
        self._cache: dict[int, np.ndarray] = {}
        self._cache_limit = cache_limit

    def __len__(self) -> int:
        return len(self.items)

    @property
    def has_boxes(self) -> bool:
        return False

    def __getitem__(self, index: int) -> Example:
        image = self._cache.get(index)
        if image is None:
            image = _square_resize(self.items[index][0], self.image_size)
            if len(self._cache) < self._cache_limit:
                self._cache[index] = image
        return Example(image=image, caption=self.items[index][1])

    def batch(self, *, step: int, count: int, rng: np.random.Generator) -> list[Example]:
        del step
        return [self[int(i)] for i in rng.integers(0, len(self.items), size=count)]


def _pick(row: dict, keys: Sequence[str], source: Path, what: str) -> str:
    for key in keys:
        if key in row and row[key] is not None:
            return str(row[key])
    raise DatasetError(f"{source}: a row has no {what} column (expected one of {', '.join(keys)})")


def _read_rows(path: Path) -> list[dict]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from None
    if path.suffix.lower() == ".csv":
        return list(csv.DictReader(text.splitlines()))
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise DatasetError(f"{path}:{number}: each line must be a JSON object")
        rows.append(row)
    return rows


def _items_from_list(path: Path) -> list[tuple[Path, str]]:
    items = []
    for row in _read_rows(path):
        file = path.parent / _pick(row, _FILE_KEYS, path, "file")
        if not file.is_file():
            raise DatasetError(f"{path}: image {file} does not exist")
        items.append((file, _pick(row, _CAPTION_KEYS, path, "caption").strip()))
    return items


def _items_from_folder(folder: Path) -> list[tuple[Path, str]]:
    for name in _LIST_NAMES:
        if (folder / name).is_file():
            return _items_from_list(folder / name)
    items = []
    for file in sorted(folder.rglob("*")):
        caption_file = file.with_suffix(".txt")
        if file.suffix.lower() in IMAGE_SUFFIXES and caption_file.is_file():
            items.append((file, caption_file.read_text(encoding="utf-8").strip()))
    if not items:
        raise DatasetError(
            f"{folder}: no captioned images (put a .txt caption beside each image, "
            f"or a captions.csv/.jsonl with file and caption columns)"
        )
    return items


def open_source(spec: str, *, image_size: int, seed: int) -> ExampleSource:
    """``"synthetic"``, a folder, or a CSV/JSONL list of ``file``/``caption`` rows."""
    if spec == "synthetic":
        return SyntheticSource(scenes=SyntheticScenes(image_size=image_size, seed=seed))
    path = Path(spec)
    if path.is_dir():
        return CaptionedImages(_items_from_folder(path), image_size=image_size)
    if path.is_file() and path.suffix.lower() in (".csv", ".jsonl"):
        return CaptionedImages(_items_from_list(path), image_size=image_size)
    if path.exists():
        raise DatasetError(f"{path}: expected a folder, a .csv or a .jsonl file")
    raise DatasetError(f"{path}: no such folder or file (or use 'synthetic')")
