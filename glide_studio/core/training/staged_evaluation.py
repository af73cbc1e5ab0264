"""Judging the demo's two stages together, through the studio's own pipeline.

Each held-out scene (drawn at the upsampler's size) gets a centred square hole
and a prompt "a <colour> <shape>"; the ``Inpainter`` runs it exactly as the
studio would (region plan, base stage, 8-bit rounding, upsampler, compositing).
The result is judged at the upsampled size twice: the colour of the hole's
centre, as the base-only evaluation does, and the shape, by how much of its
bounding box the prompted colour fills (a square all of it, a circle or
hexagon about 0.75-0.79, a triangle about half).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..generation.events import Finished
from ..generation.request import EditRequest, StageSettings
from ..pipeline.inpaint import Inpainter
from .evaluation import AdherenceCase, centre_hole, heldout_cases
from .synthetic import PALETTE, nearest_colour

__all__ = [
    "STAGED_SHAPES",
    "StagedResult",
    "measure_two_stage",
    "read_shape",
    "shape_class",
    "staged_cases",
]

STAGED_SHAPES = ("circle", "square", "triangle")
"""Shapes whose bounding-box fill tells them apart (a hexagon fills its box like a circle)."""
_CLASS_OF = {"circle": "round", "hexagon": "round", "square": "square", "triangle": "triangle"}
_MIN_PIXELS = 0.02
"""Below this share of the hole in the prompted colour there is no shape to read."""


def shape_class(fill: float) -> str:
    """The shape family a bounding-box fill fraction says: square, round or triangle."""
    if fill >= 0.86:
        return "square"
    return "round" if fill >= 0.64 else "triangle"


def read_shape(patch: np.ndarray, colour: str) -> tuple[str, float]:
    """The family and fill fraction of the pixels nearest ``colour`` in an RGB uint8 patch.

    ("none", 0.0) when too few pixels have that colour to call it a shape.
    """
    names = list(PALETTE)
    palette = np.array([PALETTE[n] for n in names], dtype=np.float32)
    pixels = patch.reshape(-1, 3).astype(np.float32)
    nearest = np.argmin(((pixels[:, None, :] - palette[None]) ** 2).sum(-1), axis=1)
    inside = (nearest == names.index(colour)).reshape(patch.shape[:2])
    if inside.mean() < _MIN_PIXELS:
        return "none", 0.0
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    box_area = (rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1)
    fill = float(inside.sum() / box_area)
    return shape_class(fill), fill


def staged_cases(
    count: int, *, image_size: int, seed: int = 12345, shapes: Sequence[str] = STAGED_SHAPES
) -> list[AdherenceCase]:
    """Held-out cases for the two-stage test: the same scenes and colours, shapes that read apart."""
    unknown = [s for s in shapes if s not in _CLASS_OF]
    if unknown:
        raise ValueError(f"no shape check for {unknown[0]!r}; choose from {', '.join(_CLASS_OF)}")
    return heldout_cases(count, image_size=image_size, seed=seed, shapes=shapes)


@dataclass(frozen=True)
class StagedResult:
    colour_hits: tuple[bool, ...]
    shape_hits: tuple[bool, ...]
    found: tuple[str, ...]
    """Per case: "<colour> <shape family> <fill>", for reports."""
    images: tuple[np.ndarray, ...]
    """The edited pictures (uint8, the cases' size)."""
    seconds: float

    @property
    def colour_rate(self) -> float:
        return sum(self.colour_hits) / max(1, len(self.colour_hits))

    @property
    def shape_rate(self) -> float:
        return sum(self.shape_hits) / max(1, len(self.shape_hits))


def measure_two_stage(
    inpainter: Inpainter,
    *,
    cases: Sequence[AdherenceCase],
    base: StageSettings,
    upsample: StageSettings,
    guidance: float,
    seed: int = 0,
) -> StagedResult:
    """Edit every case with both stages (one request each, seed ``seed + index``) and judge it."""
    start = time.perf_counter()
    colour_hits, shape_hits, found, images = [], [], [], []
    for index, case in enumerate(cases):
        size = case.image.shape[0]
        hole = centre_hole(size) == 0
        request = EditRequest(
            image=case.image,
            mask=hole,
            prompt=case.prompt,
            guidance_scale=guidance,
            base=base,
            upsample=upsample,
            use_upsampler=True,
            seed=seed + index,
        )
        finished = [e for e in inpainter.run(request) if isinstance(e, Finished)]
        image = finished[-1].candidates[0].image
        centre = centre_hole(size, fraction=0.25) == 0
        colour = nearest_colour(image[centre].reshape(-1, 3).astype(np.float32).mean(axis=0))
        family, fill = read_shape(image[hole].reshape(size // 2, size // 2, 3), case.colour)
        colour_hits.append(colour == case.colour)
        shape_hits.append(family == _CLASS_OF[case.shape])
        found.append(f"{colour} {family} {fill:.2f}")
        images.append(image)
    return StagedResult(
        colour_hits=tuple(colour_hits),
        shape_hits=tuple(shape_hits),
        found=tuple(found),
        images=tuple(images),
        seconds=time.perf_counter() - start,
    )
