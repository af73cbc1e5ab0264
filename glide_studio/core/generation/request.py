"""The edit request: everything that decides the pixels of one generation.

The same request (with the same models) gives the same pixels, so a request
is all the history needs to reproduce an edit, and all the PNG text chunks
need to record.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..imaging.region import MAX_CONTEXT, Region, ResolvedRegion, resolve_region
from .respacing import ScheduleError, space_timesteps

__all__ = [
    "DETAIL_CHOICES",
    "INPAINT",
    "OUTPAINT",
    "REQUEST_KINDS",
    "SAMPLERS",
    "EditRequest",
    "RequestError",
    "StageSettings",
]

SAMPLERS = ("ancestral", "ddim", "dpm++2m")
"""Sampler names a stage accepts (``diffusion.SAMPLER_NAMES``; kept here so requests need no torch)."""

MAX_CANDIDATES = 16

DETAIL_CHOICES = ("off", "auto", "on")
"""The detail pass: never; when the square is enlarged enough and the hardware is fast
enough (the backend decides); whenever the square is larger than the last stage's output."""

INPAINT, OUTPAINT = "inpaint", "outpaint"
REQUEST_KINDS = (INPAINT, OUTPAINT)
"""What a run does with the mask (``EditRequest.kind``)."""


class RequestError(ValueError):
    """A request that cannot be run, with a message meant for the user."""


def _frozen_array(array: np.ndarray) -> np.ndarray:
    out = np.array(array, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, kw_only=True)
class StageSettings:
    """How one stage samples: which sampler and which timesteps (a respacing)."""

    sampler: str = "ancestral"
    steps: str = "100"
    """A respacing: a count ("100"), sections ("50,20,10"), "ddimN" or "fast27"."""

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise RequestError(f"unknown sampler {self.sampler!r}; choose one of {', '.join(SAMPLERS)}")
        object.__setattr__(self, "steps", str(self.steps).strip())
        try:
            space_timesteps(1000, self.steps)
        except ScheduleError as exc:
            raise RequestError(f"bad step setting {self.steps!r}: {exc}") from None


@dataclass(frozen=True, kw_only=True, eq=False)
class EditRequest:
    """One generation, completely described.

    ``image`` is RGB uint8 (H, W, 3); ``mask`` is bool (H, W), True where the
    picture is to be regenerated (the UI's and the files' convention). Both are
    copied and made read-only, so a request can be shared between threads.
    """

    image: np.ndarray
    mask: np.ndarray
    prompt: str
    guidance_scale: float = 5.0
    base: StageSettings = field(default_factory=lambda: StageSettings(sampler="ancestral", steps="100"))
    upsample: StageSettings = field(
        default_factory=lambda: StageSettings(sampler="ancestral", steps="fast27")
    )
    use_upsampler: bool = True
    upsample_temperature: float = 0.997
    candidates: int = 1
    seed: int = 0
    sketch: np.ndarray | None = None
    """RGB uint8 like ``image``: a colour sketch to start the masked region from (SDEdit)."""
    strength: float = 0.75
    """With a sketch: how far to depart from it, 0 (keep) … 1 (ignore it)."""
    clip_guidance: float = 0.0
    """Noised-CLIP guidance scale; above 0 it replaces classifier-free guidance (ancestral only)."""
    kind: str = INPAINT
    """``inpaint``: regenerate the mask within one square around it (drawn whole by the
    text-to-image models when nothing in the square is known); ``outpaint``: the mask is a
    grown canvas's new area, filled square by square, each next to the most known picture."""
    region: Region | None = None
    """The square the model sees, chosen by the user; None: the automatic square."""
    context: float = 1.0
    """The automatic square's surroundings, as a multiple of the mask's size (1: the mask
    spans about half the square)."""
    detail: str = "off"
    """``off``, ``auto`` or ``on``: a tiled pass of the upsampler up to the photo's resolution."""
    detail_steps: str = "10"
    """The detail pass's respacing per tile (with the upsampler's sampler)."""

    def __post_init__(self) -> None:
        image = np.asarray(self.image)
        mask = np.asarray(self.mask)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise RequestError(f"the image must be RGB uint8 (H, W, 3), got {image.dtype} {image.shape}")
        if mask.shape != image.shape[:2]:
            raise RequestError(f"the mask is {mask.shape[::-1]} but the image is {image.shape[1::-1]}")
        mask = mask.astype(bool)
        if not mask.any():
            raise RequestError("the mask is empty: paint the region to regenerate first")
        if not 1 <= self.candidates <= MAX_CANDIDATES:
            raise RequestError(f"candidates must be between 1 and {MAX_CANDIDATES}, got {self.candidates}")
        if not 0 <= self.seed < 2**63:
            raise RequestError(f"the seed must be a non-negative 63-bit integer, got {self.seed}")
        if self.seed + self.candidates > 2**63:
            # Candidate k uses seed + k: every recorded seed must be one that can be passed back.
            raise RequestError(
                f"seed {self.seed} with {self.candidates} candidates runs past the largest seed "
                f"{2**63 - 1}; use a seed of at most {2**63 - self.candidates}"
            )
        if not 0 <= self.guidance_scale <= 50:
            raise RequestError(f"guidance must be between 0 and 50, got {self.guidance_scale}")
        if self.kind not in REQUEST_KINDS:
            raise RequestError(f"unknown request kind {self.kind!r}; choose {' or '.join(REQUEST_KINDS)}")
        if not 0 < self.upsample_temperature <= 1.5:
            raise RequestError(f"upsample temperature must be in (0, 1.5], got {self.upsample_temperature}")
        self._check_toolbox(image)
        object.__setattr__(self, "image", _frozen_array(image))
        object.__setattr__(self, "mask", _frozen_array(mask))
        self._check_area()

    def _check_toolbox(self, image: np.ndarray) -> None:
        """Validate the sketch, its strength and CLIP guidance (defaults: all unused)."""
        if self.sketch is not None:
            sketch = np.asarray(self.sketch)
            if sketch.dtype != np.uint8 or sketch.shape != image.shape:
                raise RequestError(
                    f"the sketch must be RGB uint8 of the image's size {image.shape[1::-1]}, "
                    f"got {sketch.dtype} {sketch.shape[1::-1]}"
                )
            object.__setattr__(self, "sketch", _frozen_array(sketch))
        for name in ("strength", "clip_guidance"):
            if isinstance(getattr(self, name), bool) or not isinstance(getattr(self, name), (int, float)):
                raise RequestError(f"{name} must be a number, got {getattr(self, name)!r}")
        if not 0 <= self.strength <= 1:
            raise RequestError(f"sketch strength must be between 0 and 1, got {self.strength}")
        if not 0 <= self.clip_guidance <= 100:
            raise RequestError(f"CLIP guidance must be between 0 and 100, got {self.clip_guidance}")
        if self.clip_guidance and self.base.sampler != "ancestral":
            raise RequestError(
                f"CLIP guidance shifts each ancestral step; the {self.base.sampler} sampler cannot "
                "take it: choose the ancestral sampler (or the release preset)"
            )

    def _check_area(self) -> None:
        """Validate the generation area and the detail pass (all defaults: today's square, no pass)."""
        if self.region is not None and not isinstance(self.region, Region):
            raise RequestError(f"the generation area must be a Region, got {self.region!r}")
        if isinstance(self.context, bool) or not isinstance(self.context, (int, float)):
            raise RequestError(f"context must be a number, got {self.context!r}")
        if not 0 < self.context <= MAX_CONTEXT:
            raise RequestError(
                f"context must be above 0 and at most {MAX_CONTEXT:g} (times the mask's size), "
                f"got {self.context:g}"
            )
        if self.detail not in DETAIL_CHOICES:
            raise RequestError(f"detail must be one of {', '.join(DETAIL_CHOICES)}, got {self.detail!r}")
        object.__setattr__(self, "detail_steps", str(self.detail_steps).strip())
        try:
            space_timesteps(1000, self.detail_steps)
        except ScheduleError as exc:
            raise RequestError(f"bad detail step setting {self.detail_steps!r}: {exc}") from None
        if self.region is not None:
            self.area()  # a square wholly outside the picture is refused here, not mid-run

    def area(self, *, min_side: int = 64) -> ResolvedRegion:
        """The square the model sees (the chosen region made valid, or the automatic one)."""
        try:
            return resolve_region(self.mask, region=self.region, context=self.context, min_side=min_side)
        except ValueError as exc:
            raise RequestError(str(exc)) from None

    @property
    def seeds(self) -> tuple[int, ...]:
        """One seed per candidate; candidate k alone is ``with_seed(seeds[k], candidates=1)``."""
        return tuple(self.seed + k for k in range(self.candidates))

    def with_changes(self, **changes: Any) -> EditRequest:
        return replace(self, **changes)

    def describe(self, *, upsampled: bool | None = None, detailed: bool | None = None) -> dict[str, str]:
        """The parameters worth recording beside a result (PNG text chunks, history).

        ``upsampled`` and ``detailed`` say whether the upsampler and the detail pass
        really ran (the pipeline's stages); a stage that did not run is never
        recorded. None: as requested.
        """
        info = {
            "prompt": self.prompt,
            "seed": str(self.seed),
            "guidance": f"{self.guidance_scale:g}",
            "sampler": self.base.sampler,
            "steps": self.base.steps,
            "candidates": str(self.candidates),
        }
        if self.use_upsampler if upsampled is None else upsampled:
            info["upsample_sampler"] = self.upsample.sampler
            info["upsample_steps"] = self.upsample.steps
            info["upsample_temperature"] = f"{self.upsample_temperature:g}"
        if self.clip_guidance:
            del info["guidance"]
            info["clip_guidance"] = f"{self.clip_guidance:g}"
        if self.sketch is not None:
            info["sketch_strength"] = f"{self.strength:g}"
        if self.kind != INPAINT:
            info["mode"] = self.kind
        if self.region is not None:
            info["region"] = str(self.region)
        elif self.context != 1.0:
            info["context"] = f"{self.context:g}"
        if self.detail == "on" if detailed is None else detailed:
            info["detail_steps"] = self.detail_steps
        return info
