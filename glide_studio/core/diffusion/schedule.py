"""Noise schedules and timestep respacing (which timesteps a respacing keeps is
``generation.respacing``: requests check their step settings without torch).

Computed in float64 like the reference, so that respaced betas and every
derived coefficient agree with it to the last bit before being rounded to
float32 for use.
"""

from __future__ import annotations

import math

import numpy as np

from ..generation.respacing import ScheduleError, space_timesteps

__all__ = ["ScheduleError", "beta_schedule", "respace_betas", "space_timesteps"]


def beta_schedule(name: str, num_steps: int) -> np.ndarray:
    """The betas of a named schedule: ``"linear"`` or ``"squaredcos_cap_v2"`` (cosine)."""
    if num_steps <= 0:
        raise ScheduleError(f"diffusion steps must be positive, got {num_steps}")
    if name == "linear":
        # Scaled so that any step count spans the same noise range as 1000 steps.
        scale = 1000 / num_steps
        return np.linspace(scale * 0.0001, scale * 0.02, num_steps, dtype=np.float64)
    if name == "squaredcos_cap_v2":

        def alpha_bar(t: float) -> float:
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

        return np.array(
            [
                min(1 - alpha_bar((i + 1) / num_steps) / alpha_bar(i / num_steps), 0.999)
                for i in range(num_steps)
            ],
            dtype=np.float64,
        )
    raise ScheduleError(f"unknown noise schedule {name!r} (expected 'linear' or 'squaredcos_cap_v2')")


def respace_betas(betas: np.ndarray, keep: list[int]) -> np.ndarray:
    """Betas of the shorter process that visits only ``keep`` with the same alpha-bars."""
    alphas_cumprod = np.cumprod(1.0 - betas)
    new_betas = []
    previous = 1.0
    for t in keep:
        new_betas.append(1 - alphas_cumprod[t] / previous)
        previous = alphas_cumprod[t]
    return np.array(new_betas, dtype=np.float64)
