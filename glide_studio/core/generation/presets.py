"""Named speed/quality trade-offs for the two stages.

``release`` is the paper's released notebook (100 ancestral steps, then the
upsampler's ``fast27``). The faster presets use DPM-Solver++(2M); their step
counts come from the closeness measurements in ``benchmarks/sampler_quality.py``
(see the README's performance section): with the cosine schedule, evenly spaced
steps land closer to the 1000-step ODE solution than quadratic spacing
(25 steps: 4.7 against 11.8 levels of mean error).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from .request import StageSettings

__all__ = ["DEFAULT_PRESET", "PRESETS", "Preset"]


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
                upsample=StageSettings(sampler="dpm++2m", steps="20"),
                description="DPM-Solver++(2M), 50 + 20 steps.",
            ),
            Preset(
                name="balanced",
                label="Balanced",
                base=StageSettings(sampler="dpm++2m", steps="20"),
                upsample=StageSettings(sampler="dpm++2m", steps="10"),
                description="DPM-Solver++(2M), 20 + 10 steps.",
            ),
            Preset(
                name="fast",
                label="Fast",
                base=StageSettings(sampler="dpm++2m", steps="15"),
                upsample=StageSettings(sampler="dpm++2m", steps="8"),
                description="DPM-Solver++(2M), 15 + 8 steps.",
            ),
        )
    }
)

DEFAULT_PRESET = "balanced"
