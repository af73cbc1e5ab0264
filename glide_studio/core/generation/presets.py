"""Named speed/quality trade-offs for the two stages, and the rule that picks the sampling.

``release`` is the paper's released notebook (100 ancestral steps, then the
upsampler's ``fast27``). The faster presets run the base stage with
DPM-Solver++(2M) on evenly spaced steps and the upsampler with DDIM: both
choices come from closeness measurements against 1000-step DDIM
(``benchmarks/sampler_quality.py``, ``benchmarks/upsampler_quality.py``; the
figures are in the README's performance section).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .request import RequestError, StageSettings

__all__ = [
    "CUSTOM_PRESET",
    "DEFAULT_PRESET",
    "MODEL_PRESET",
    "PRESETS",
    "Preset",
    "RecommendedSampling",
    "Sampling",
    "resolve_sampling",
]


@dataclass(frozen=True, kw_only=True)
class Preset:
    name: str
    label: str
    base: StageSettings
    upsample: StageSettings
    description: str


PRESETS: MappingProxyType = MappingProxyType(
    {
        p.name: p
        for p in (
            Preset(
                name="release",
                label="Release (slowest)",
                base=StageSettings(sampler="ancestral", steps="100"),
                upsample=StageSettings(sampler="ancestral", steps="fast27"),
                description="The paper's released sampling: 100 + 27 ancestral steps.",
            ),
            Preset(
                name="quality",
                label="Quality",
                base=StageSettings(sampler="dpm++2m", steps="50"),
                upsample=StageSettings(sampler="ddim", steps="25"),
                description="DPM-Solver++(2M) 50 steps, then DDIM 25 upsampler steps.",
            ),
            Preset(
                name="balanced",
                label="Balanced",
                base=StageSettings(sampler="dpm++2m", steps="20"),
                upsample=StageSettings(sampler="ddim", steps="10"),
                description="DPM-Solver++(2M) 20 steps, then DDIM 10 upsampler steps.",
            ),
            Preset(
                name="fast",
                label="Fast",
                base=StageSettings(sampler="dpm++2m", steps="15"),
                upsample=StageSettings(sampler="ddim", steps="8"),
                description="DPM-Solver++(2M) 15 steps, then DDIM 8 upsampler steps.",
            ),
        )
    }
)

DEFAULT_PRESET = "balanced"

MODEL_PRESET = "model"
"""The loaded model's own sampling (``RecommendedSampling``), when it brings one."""
CUSTOM_PRESET = "custom"
"""Every sampling field given by hand (what is not given comes from the default preset)."""


@dataclass(frozen=True, kw_only=True)
class RecommendedSampling:
    """The sampling a model was measured best with (the demo model's manifest carries one)."""

    base: StageSettings
    upsample: StageSettings | None = None
    guidance_scale: float | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RecommendedSampling:
        """From a manifest's or the server's ``sampling`` object (``sampler``, ``steps``,
        ``guidance_scale``, ``upsample_sampler``, ``upsample_steps``); ``RequestError`` if malformed."""
        if not isinstance(data, Mapping) or not data.get("steps"):
            raise RequestError(f"a model's sampling needs at least its steps, got {data!r}")
        guidance = data.get("guidance_scale")
        if guidance is not None and (isinstance(guidance, bool) or not isinstance(guidance, int | float)):
            raise RequestError(f"a model's guidance must be a number, got {guidance!r}")
        upsample = None
        if data.get("upsample_steps"):
            upsample = StageSettings(
                sampler=str(data.get("upsample_sampler") or "ancestral"), steps=str(data["upsample_steps"])
            )
        return cls(
            base=StageSettings(sampler=str(data.get("sampler") or "ancestral"), steps=str(data["steps"])),
            upsample=upsample,
            guidance_scale=None if guidance is None else float(guidance),
        )

    def to_mapping(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sampler": self.base.sampler, "steps": self.base.steps}
        if self.guidance_scale is not None:
            out["guidance_scale"] = self.guidance_scale
        if self.upsample is not None:
            out["upsample_sampler"] = self.upsample.sampler
            out["upsample_steps"] = self.upsample.steps
        return out

    def label(self, name: str) -> str:
        """How a menu names it, e.g. "Demo model · 50 + fast27 steps"."""
        if self.upsample is None:
            return f"{name} · {self.base.steps} steps"
        return f"{name} · {self.base.steps} + {self.upsample.steps} steps"


@dataclass(frozen=True, kw_only=True)
class Sampling:
    """How both stages sample, as resolved from a preset, a model's own choice and overrides."""

    base: StageSettings
    upsample: StageSettings
    guidance_scale: float | None = None
    """The model's own guidance when its sampling was chosen; None: the caller's own."""


def resolve_sampling(
    *,
    preset: str | None,
    recommended: RecommendedSampling | None = None,
    clip: bool = False,
    sampler: str | None = None,
    steps: str | None = None,
    upsample_sampler: str | None = None,
    upsample_steps: str | None = None,
) -> Sampling:
    """The one rule for the command line and the panel.

    ``preset`` None means the model's own sampling when it has one, else the
    default preset. Each given field overrides the choice; with ``clip`` the
    base sampler defaults to ancestral, the only one CLIP guidance can steer.
    Raises ``RequestError`` for an unknown preset or a bad sampler or steps.
    """
    name = preset or (MODEL_PRESET if recommended is not None else DEFAULT_PRESET)
    guidance = None
    if name == MODEL_PRESET:
        if recommended is None:
            raise RequestError(f"this model has no sampling of its own; choose one of {', '.join(PRESETS)}")
        base, upsample = recommended.base, recommended.upsample or PRESETS[DEFAULT_PRESET].upsample
        guidance = recommended.guidance_scale
    elif name == CUSTOM_PRESET or name in PRESETS:
        chosen = PRESETS[DEFAULT_PRESET if name == CUSTOM_PRESET else name]
        base, upsample = chosen.base, chosen.upsample
    else:
        names = ", ".join([*PRESETS, MODEL_PRESET, CUSTOM_PRESET])
        raise RequestError(f"unknown preset {name!r}; choose one of {names}")
    return Sampling(
        base=StageSettings(
            sampler=sampler or ("ancestral" if clip else base.sampler), steps=steps or base.steps
        ),
        upsample=StageSettings(
            sampler=upsample_sampler or upsample.sampler, steps=upsample_steps or upsample.steps
        ),
        guidance_scale=guidance,
    )
