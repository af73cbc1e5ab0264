"""Random inpainting masks, in the model's convention: 1 = known pixel, 0 = to generate.

The paper erases random regions of training images; the kinds here cover what
users paint in the studio (boxes, brush strokes), outpainting (a known centre,
a generated border), plain text-to-image (nothing known) and, for captioned
synthetic scenes, a box around the described object, so that the caption
says what belongs in the hole.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

__all__ = ["MASK_KINDS", "MaskMix", "brush_mask", "object_mask", "outpaint_mask", "random_mask", "rect_mask"]

MASK_KINDS = ("object", "rectangle", "brush", "outpaint", "whole")

Box = tuple[int, int, int, int]
"""(top, left, bottom, right), bottom/right exclusive."""


def rect_mask(size: int, rng: np.random.Generator) -> np.ndarray:
    """Hide one rectangle covering roughly 5-60% of the image."""
    mask = np.ones((size, size), dtype=np.float32)
    h = int(rng.integers(max(2, size // 5), int(size * 0.8) + 1))
    w = int(rng.integers(max(2, size // 5), int(size * 0.8) + 1))
    top = int(rng.integers(0, size - h + 1))
    left = int(rng.integers(0, size - w + 1))
    mask[top : top + h, left : left + w] = 0
    return mask


def brush_mask(size: int, rng: np.random.Generator) -> np.ndarray:
    """Free-form strokes: a few random walks drawn with a round brush."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    hidden = np.zeros((size, size), dtype=bool)
    for _ in range(int(rng.integers(1, 4))):
        y, x = rng.uniform(0, size, size=2)
        radius = rng.uniform(0.04, 0.1) * size
        angle = rng.uniform(0, 2 * math.pi)
        for _ in range(int(rng.integers(4, 10))):
            angle += rng.uniform(-1.2, 1.2)
            length = rng.uniform(0.08, 0.25) * size
            for s in np.linspace(0, 1, 6):
                cy = y + s * length * math.sin(angle)
                cx = x + s * length * math.cos(angle)
                hidden |= (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
            y = float(np.clip(y + length * math.sin(angle), 0, size - 1))
            x = float(np.clip(x + length * math.cos(angle), 0, size - 1))
    return (~hidden).astype(np.float32)


def outpaint_mask(size: int, rng: np.random.Generator) -> np.ndarray:
    """Keep a centre or one side; generate the rest (extending the picture)."""
    mask = np.zeros((size, size), dtype=np.float32)
    keep = int(rng.integers(size // 3, int(size * 0.75) + 1))
    side = int(rng.integers(0, 5))
    if side == 4:  # a centred window: generate a frame all around
        lo = (size - keep) // 2
        mask[lo : lo + keep, lo : lo + keep] = 1
    elif side == 0:
        mask[:keep] = 1
    elif side == 1:
        mask[-keep:] = 1
    elif side == 2:
        mask[:, :keep] = 1
    else:
        mask[:, -keep:] = 1
    return mask


def object_mask(size: int, rng: np.random.Generator, box: Box) -> np.ndarray:
    """Hide a square around the object, a pixel or two larger, slightly off-centre."""
    top, left, bottom, right = box
    side = max(bottom - top, right - left) + int(rng.integers(1, max(2, size // 10) + 1))
    side = min(side, size)
    cy = (top + bottom) / 2 + rng.uniform(-1, 1)
    cx = (left + right) / 2 + rng.uniform(-1, 1)
    y0 = int(np.clip(round(cy - side / 2), 0, size - side))
    x0 = int(np.clip(round(cx - side / 2), 0, size - side))
    mask = np.ones((size, size), dtype=np.float32)
    mask[y0 : y0 + side, x0 : x0 + side] = 0
    return mask


@dataclass(frozen=True)
class MaskMix:
    """How often each kind is drawn; ``object`` falls back to ``rectangle`` without a box."""

    weights: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType(
            {"object": 0.55, "rectangle": 0.15, "brush": 0.1, "outpaint": 0.1, "whole": 0.1}
        )
    )

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(MASK_KINDS)
        if unknown:
            raise ValueError(f"unknown mask kinds {sorted(unknown)}; known: {', '.join(MASK_KINDS)}")
        if any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError("mask weights must be non-negative and not all zero")
        object.__setattr__(self, "weights", MappingProxyType(dict(self.weights)))

    @classmethod
    def parse(cls, text: str) -> MaskMix:
        """``"object=0.6,rectangle=0.2,whole=0.2"``."""
        weights = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = part.partition("=")
            try:
                weights[name.strip()] = float(value)
            except ValueError:
                raise ValueError(f"bad mask weight {part!r} (expected kind=number)") from None
        return cls(weights)

    def choose(self, rng: np.random.Generator) -> str:
        kinds = list(self.weights)
        p = np.array([self.weights[k] for k in kinds], dtype=np.float64)
        return kinds[int(rng.choice(len(kinds), p=p / p.sum()))]


def random_mask(kind: str, size: int, rng: np.random.Generator, *, box: Box | None = None) -> np.ndarray:
    """One mask of the named kind, float32 (size, size), 1 = known."""
    if kind == "object":
        return object_mask(size, rng, box) if box is not None else rect_mask(size, rng)
    if kind == "rectangle":
        return rect_mask(size, rng)
    if kind == "brush":
        return brush_mask(size, rng)
    if kind == "outpaint":
        return outpaint_mask(size, rng)
    if kind == "whole":
        return np.zeros((size, size), dtype=np.float32)
    raise ValueError(f"unknown mask kind {kind!r}; known: {', '.join(MASK_KINDS)}")
