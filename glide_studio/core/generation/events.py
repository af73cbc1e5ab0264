"""What a running edit reports: a plain-data stream the CLI prints and the UI draws.

Order: ``Started``, then for each stage its ``Preview`` events (one per
sampling step), then one ``Candidate`` per result, then ``Finished``. A run
whose cancel token is set ends with ``Cancelled`` (keeping the candidates that
were already complete); a consumer may also simply stop iterating. ``Failed``
is what a remote run reports instead of raising.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..imaging.region import Box

__all__ = ["Cancelled", "Candidate", "Event", "Failed", "Finished", "Preview", "Started"]


@dataclass(frozen=True)
class Started:
    stages: tuple[str, ...]
    """Stage names in running order, e.g. ("base", "upsample")."""
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


@dataclass(frozen=True, eq=False)
class Candidate:
    index: int
    seed: int
    image: np.ndarray
    """The whole edited picture, RGB uint8, same size as the request's image."""
    box: Box
    """Where it differs from the original (the grown mask's bounds)."""


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


Event = Started | Preview | Candidate | Finished | Cancelled | Failed
