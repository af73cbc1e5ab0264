"""Named speed/quality trade-offs for the two stages.

``release`` is the paper's released notebook (100 ancestral steps, then the
upsampler's ``fast27``). The faster presets run the base stage with
DPM-Solver++(2M) and the upsampler with DDIM; both choices come from closeness
measurements against 1000-step DDIM (see the README's performance section).
Base stage (cosine schedule, ``benchmarks/sampler_quality.py``): evenly spaced
steps land closer than quadratic spacing (25 steps: 4.7 against 11.8 levels of
mean error). Upsampler (linear schedule, the demo upsampler,
``benchmarks/upsampler_quality.py``): DDIM is closer than DPM-Solver++(2M) at
every count (10 steps: 3.1 against 5.4 levels; 25: 1.2 against 1.9) and keeps
the edges as sharp, so each preset spends its upsampler steps on DDIM.
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
