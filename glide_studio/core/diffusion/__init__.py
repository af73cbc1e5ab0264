"""The diffusion process, its samplers and the wrappers that steer them.

Names are imported on first use, so that ``diffusion.schedule`` (plain numpy,
used to validate step settings in requests) can be imported without torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .clip_guidance import clip_guidance_gradient
    from .gaussian import Diffusion, Prediction, X0Transform
    from .guidance import classifier_free_guidance, paste_known_region
    from .samplers import (
        SAMPLER_NAMES,
        Denoiser,
        NoiseSource,
        Step,
        ancestral,
        ddim,
        dpm_solver_pp_2m,
        noise_from_generator,
        noise_from_tensors,
        sample,
    )
    from .schedule import ScheduleError, beta_schedule, space_timesteps

_WHERE = {
    "clip_guidance_gradient": "clip_guidance",
    "Diffusion": "gaussian",
    "Prediction": "gaussian",
    "X0Transform": "gaussian",
    "classifier_free_guidance": "guidance",
    "paste_known_region": "guidance",
    "SAMPLER_NAMES": "samplers",
    "Denoiser": "samplers",
    "NoiseSource": "samplers",
    "Step": "samplers",
    "ancestral": "samplers",
    "ddim": "samplers",
    "dpm_solver_pp_2m": "samplers",
    "noise_from_generator": "samplers",
    "noise_from_tensors": "samplers",
    "sample": "samplers",
    "ScheduleError": "schedule",
    "beta_schedule": "schedule",
    "space_timesteps": "schedule",
}

__all__ = [
    "SAMPLER_NAMES",
    "Denoiser",
    "Diffusion",
    "NoiseSource",
    "Prediction",
    "ScheduleError",
    "Step",
    "X0Transform",
    "ancestral",
    "beta_schedule",
    "classifier_free_guidance",
    "clip_guidance_gradient",
    "ddim",
    "dpm_solver_pp_2m",
    "noise_from_generator",
    "noise_from_tensors",
    "paste_known_region",
    "sample",
    "space_timesteps",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
