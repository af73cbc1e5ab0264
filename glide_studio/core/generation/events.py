"""What a running edit reports: a plain-data stream the CLI prints and the UI draws.

Order: a server's run may first say where it waits (``Queued``, repeated as
its place changes); then ``Started``, then for each stage its ``Preview`` events (one per
sampling step), then one ``Candidate`` per result, then ``Finished``. A run
that makes its candidates in turn (large models on a CPU; outpainting) repeats
the stages once per candidate, ``Started`` lists every repetition, and each
candidate follows its own last preview. A run whose cancel token is set ends
with ``Cancelled`` (keeping the candidates that were already complete); a
consumer may also simply stop iterating. ``Failed`` is how a server reports a
run that broke, and how the studio's model thread passes any failure on: every
run the window sees ends with exactly one of ``Finished``, ``Cancelled`` or
``Failed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..imaging.region import Box

__all__ = ["Cancelled", "Candidate", "Event", "Failed", "Finished", "Preview", "Queued", "Started"]


@dataclass(frozen=True)
class Started:
    stages: tuple[str, ...]
    """Stage names in running order, e.g. ("base", "upsample"); repeated when the
    candidates are made in turn."""
    steps: tuple[int, ...]
    """Sampling steps of each stage."""
    seeds: tuple[int, ...]
    box: Box
    """The region of interest in image coordinates (what the model sees)."""
    prompt_truncated: bool = False
    """The prompt had more tokens than the model reads; its end was ignored."""


@dataclass(frozen=True, eq=False)
class Preview:
    stage: str
    step: int
    """1-based: ``step == total`` is the stage's last step."""
    total: int
    box: Box
    images: tuple[np.ndarray, ...]
    """One RGBA uint8 image per candidate at model resolution: the current predicted
    x0, with alpha = the feathered edit mask, to be drawn scaled onto ``box``."""
    first: int = 0
    """The candidate that ``images[0]`` shows (the others follow it); above 0 when
    candidates are made in turn, each with its own previews."""


class Candidate:
    """One result: only the pixels of the box where it differs from the original.

    Sixteen candidates of a 24-megapixel photo would cost a gigabyte as whole
    pictures; as patches they cost what the region costs. ``image`` composes
    the whole picture on demand from the (shared, read-only) original.
    """

    __slots__ = ("box", "index", "original", "patch", "seed")

    def __init__(
        self,
        *,
        index: int,
        seed: int,
        box: Box,
        patch: np.ndarray | None = None,
        original: np.ndarray | None = None,
        image: np.ndarray | None = None,
    ) -> None:
        if patch is None:
            if image is None:
                raise ValueError("a candidate needs its patch (or a whole image to cut it from)")
            patch = np.asarray(image)[box.slices]
            original = image if original is None else original
        patch = np.array(patch, dtype=np.uint8, copy=True)
        if patch.shape[:2] != (box.height, box.width):
            raise ValueError(f"the patch is {patch.shape[1::-1]} but its box is {box.width}×{box.height}")
        patch.setflags(write=False)
        self.index, self.seed, self.box, self.patch, self.original = index, seed, box, patch, original

    @property
    def image(self) -> np.ndarray:
        """The whole edited picture (RGB uint8), composed now from the original and the patch."""
        if self.original is None:
            raise ValueError("this candidate carries only its patch")
        out = np.array(self.original, copy=True)
        out[self.box.slices] = self.patch
        return out

    def __repr__(self) -> str:
        return f"Candidate(index={self.index}, seed={self.seed}, box={self.box})"


@dataclass(frozen=True, eq=False)
class Finished:
    candidates: tuple[Candidate, ...]
    seconds: float


@dataclass(frozen=True, eq=False)
class Cancelled:
    """The run stopped early on request; ``candidates`` are those already complete."""

    candidates: tuple[Candidate, ...]
    seconds: float


@dataclass(frozen=True)
class Failed:
    """The run failed; ``message`` is written for the user."""

    message: str


@dataclass(frozen=True)
class Queued:
    """A server's run still waits for a free model; ``position`` is its place in the queue
    (1: it starts next). Sent again whenever it moves; only a server's runs have it."""

    position: int


Event = Queued | Started | Preview | Candidate | Finished | Cancelled | Failed
