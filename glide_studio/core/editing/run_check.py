"""Whether a run can start, and what to tell or ask the user first.

The rules of starting a run live here, once, for every caller: a window asks
``EditingSession.check_run`` and only shows what comes back (a refusal, files
to offer, a question, warnings). Nothing here knows about widgets or models:
the backend is known by its ``BackendInfo``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..generation.backend import BackendInfo
from ..generation.settings import GenerationSettings
from ..imaging.mask_check import THIN_FRACTION, thin_fraction
from ..imaging.region import covers_square

__all__ = ["RunCheck", "check_run", "run_warnings"]

CLIP_FILES_WHY = (
    "CLIP guidance needs the noised CLIP encoders (clip_image_enc.pt, clip_text_enc.pt), "
    "which are not in the weights folder."
)


@dataclass(frozen=True)
class RunCheck:
    refusal: str = ""
    """The run cannot start; why, in the user's words."""
    files_group: str = ""
    """The run needs released files that are missing (a download group, e.g. "clip")."""
    files_why: str = ""
    question: str = ""
    """Ask this (yes: start) before starting; empty when there is nothing to ask."""

    @property
    def blocked(self) -> bool:
        return bool(self.refusal or self.files_group)


def check_run(
    *,
    mask_empty: bool,
    running: bool,
    outpaint: bool,
    pending_candidates: int,
    stale: bool,
    settings: GenerationSettings,
    info: BackendInfo | None,
) -> RunCheck:
    """The first reason not to start, or the question to ask. ``info`` None: the models are
    still loading (the run then waits for them, and what they lack is found when it starts)."""
    if running:
        return RunCheck(refusal="A generation is already running (Esc cancels it).")
    if mask_empty:
        return RunCheck(refusal="Paint over the region to change first: the mask is empty.")
    if info is not None:
        if settings.clip_guidance and not info.capabilities.clip:
            return RunCheck(files_group="clip", files_why=CLIP_FILES_WHY)
        if outpaint and not info.capabilities.outpaint:
            return RunCheck(
                refusal=f"The models at {info.device_label} cannot fill an extended canvas "
                "(the server is older than outpainting over the network): run it on this computer."
            )
    if pending_candidates and not stale:
        return RunCheck(question=f"Replace the {pending_candidates} candidate(s) that were not applied?")
    return RunCheck()


def run_warnings(mask: np.ndarray, info: BackendInfo | None, *, outpaint: bool = False) -> tuple[str, ...]:
    """What the user should know about a run that starts (it runs anyway)."""
    side = info.base_resolution if info is not None else 64
    warnings = []
    if thin_fraction(mask, model_side=side) > THIN_FRACTION:
        warnings.append(
            f"Warning: most painted strokes are about one pixel wide at the model's {side} px; "
            "widen them, or the result may come out striped."
        )
    drawn_whole = not outpaint and covers_square(mask)
    if info is not None and not info.capabilities.text2im and not info.is_demo and drawn_whole:
        warnings.append(
            "The whole square is new: the inpainting model draws it, as the text-to-image models "
            "(base.pt, upsample.pt) are not downloaded (Models → Download, group text2im)."
        )
    return tuple(warnings)
