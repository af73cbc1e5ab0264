"""What the user asks of the next run, apart from the picture: prompt, sampling, seed.

The panel (and a script) fills one ``GenerationSettings``; the editing session
adds the picture, the mask, the sketch and the kind of run to make the
``EditRequest``, and decides from the settings and the backend's description
whether the run can start at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..imaging.region import Region
from .backend import Preparation
from .request import INPAINT, EditRequest, StageSettings

__all__ = ["GenerationSettings"]


@dataclass(frozen=True, kw_only=True)
class GenerationSettings:
    prompt: str = ""
    base: StageSettings = field(default_factory=StageSettings)
    upsample: StageSettings = field(default_factory=lambda: StageSettings(steps="fast27"))
    guidance_scale: float = 5.0
    clip_guidance: float = 0.0
    """Above 0: noised-CLIP guidance at this scale instead of classifier-free guidance."""
    strength: float = 0.75
    """How far a sketch edit may depart from the sketch (used only when one is painted)."""
    use_upsampler: bool = True
    candidates: int = 1
    seed: int = 0
    context: float = 1.0
    """How much of the picture around the mask the automatic square shows (× the mask's size)."""
    detail: str = "auto"
    """The detail pass: ``off``, ``auto`` (when the square is enlarged and the hardware is fast
    enough) or ``on``."""
    detail_steps: str = "10"

    def preparation(self) -> Preparation:
        """What a backend can do ahead of a run with these settings."""
        return Preparation(
            prompt=self.prompt,
            candidates=self.candidates,
            guidance_scale=self.guidance_scale,
            clip_guidance=self.clip_guidance,
            use_upsampler=self.use_upsampler,
        )

    def request(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        *,
        sketch: np.ndarray | None = None,
        kind: str = INPAINT,
        region: Region | None = None,
    ) -> EditRequest:
        """The whole request for this picture (raises ``RequestError``)."""
        return EditRequest(
            image=image,
            mask=mask,
            prompt=self.prompt,
            guidance_scale=self.guidance_scale,
            base=self.base,
            upsample=self.upsample,
            use_upsampler=self.use_upsampler,
            candidates=self.candidates,
            seed=self.seed,
            sketch=sketch,
            strength=self.strength,
            clip_guidance=self.clip_guidance,
            kind=kind,
            region=region,
            context=self.context,
            detail=self.detail,
            detail_steps=self.detail_steps,
        )
