"""The diffusion process, its samplers and the wrappers that steer them."""

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
    "ddim",
    "dpm_solver_pp_2m",
    "noise_from_generator",
    "noise_from_tensors",
    "paste_known_region",
    "sample",
    "space_timesteps",
]
