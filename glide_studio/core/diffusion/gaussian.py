"""The Gaussian diffusion process of the released models: epsilon prediction with a
learned-range variance.

Coefficients are computed in float64 and each is rounded to float32 once, at
construction, exactly as the reference rounds each looked-up value; per step
they are plain Python numbers, so no schedule tensor is built or copied to the
device while sampling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .schedule import beta_schedule, respace_betas, space_timesteps

__all__ = ["Diffusion", "Prediction", "X0Transform"]

X0Transform = Callable[[Tensor], Tensor]
"""Applied to every predicted x0 before clipping (e.g. pasting the known region)."""


def _as_f32(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in values.astype(np.float32))


@dataclass(frozen=True)
class Prediction:
    """What one model evaluation says about x_t."""

    pred_x0: Tensor
    eps: Tensor
    mean: Tensor
    log_variance: Tensor

    @property
    def variance(self) -> Tensor:
        return self.log_variance.exp()


class Diffusion:
    """A (possibly respaced) diffusion process; index ``i`` runs over its steps."""

    def __init__(self, *, noise_schedule: str, steps: int = 1000, respacing: str = "") -> None:
        base = beta_schedule(noise_schedule, steps)
        self.noise_schedule = noise_schedule
        self.respacing = respacing
        self.timesteps: tuple[int, ...] = tuple(space_timesteps(steps, respacing))
        """Original timestep (what the model is told) of each index."""
        betas = respace_betas(base, list(self.timesteps))
        self.betas = betas
        acp = np.cumprod(1.0 - betas)
        acp_prev = np.append(1.0, acp[:-1])
        posterior_variance = betas * (1.0 - acp_prev) / (1.0 - acp)
        # The posterior variance is 0 at the last step; its log is clipped to the next one.
        posterior_log_variance = np.log(np.append(posterior_variance[1], posterior_variance[1:]))
        self.alphas_cumprod = _as_f32(acp)
        self.alphas_cumprod_prev = _as_f32(acp_prev)
        self.sqrt_alphas_cumprod = _as_f32(np.sqrt(acp))
        self.sqrt_one_minus_alphas_cumprod = _as_f32(np.sqrt(1.0 - acp))
        self.sqrt_recip_alphas_cumprod = _as_f32(np.sqrt(1.0 / acp))
        self.sqrt_recipm1_alphas_cumprod = _as_f32(np.sqrt(1.0 / acp - 1))
        self.posterior_mean_coef1 = _as_f32(betas * np.sqrt(acp_prev) / (1.0 - acp))
        self.posterior_mean_coef2 = _as_f32((1.0 - acp_prev) * np.sqrt(1.0 - betas) / (1.0 - acp))
        self.posterior_variance = _as_f32(posterior_variance)
        self.posterior_log_variance_clipped = _as_f32(posterior_log_variance)
        self.log_betas = _as_f32(np.log(betas))

    @classmethod
    def from_options(cls, options: dict, *, respacing: str | None = None) -> Diffusion:
        """The process a model was trained with, respaced as asked (default: the options')."""
        return cls(
            noise_schedule=str(options.get("noise_schedule", "squaredcos_cap_v2")),
            steps=int(options.get("diffusion_steps", 1000)),
            respacing=str(options.get("timestep_respacing", "")) if respacing is None else respacing,
        )

    @property
    def num_steps(self) -> int:
        return len(self.timesteps)

    def __repr__(self) -> str:
        return f"Diffusion({self.noise_schedule!r}, {self.num_steps} steps, respacing={self.respacing!r})"

    # -- the process ------------------------------------------------------------

    def q_sample(self, x0: Tensor, index: Tensor, noise: Tensor) -> Tensor:
        """x_t for x0 at per-row step indices (used for training)."""
        a = _gather(self.sqrt_alphas_cumprod, index, x0)
        s = _gather(self.sqrt_one_minus_alphas_cumprod, index, x0)
        return a * x0 + s * noise

    def posterior_mean(self, x0: Tensor, x_t: Tensor, i: int) -> Tensor:
        return self.posterior_mean_coef1[i] * x0 + self.posterior_mean_coef2[i] * x_t

    def x0_from_eps(self, x_t: Tensor, i: int, eps: Tensor) -> Tensor:
        return self.sqrt_recip_alphas_cumprod[i] * x_t - self.sqrt_recipm1_alphas_cumprod[i] * eps

    def eps_from_x0(self, x_t: Tensor, i: int, x0: Tensor) -> Tensor:
        return (self.sqrt_recip_alphas_cumprod[i] * x_t - x0) / self.sqrt_recipm1_alphas_cumprod[i]

    def learned_log_variance(self, v: Tensor, i: int) -> Tensor:
        """Interpolate between the posterior variance and beta in log space; v in [-1, 1]."""
        frac = (v + 1) / 2
        return frac * self.log_betas[i] + (1 - frac) * self.posterior_log_variance_clipped[i]

    def predict(
        self,
        model_output: Tensor,
        x_t: Tensor,
        i: int,
        *,
        x0_transform: X0Transform | None = None,
        clip: bool = True,
    ) -> Prediction:
        """Turn a 6-channel model output at step ``i`` into x0, mean and variance."""
        channels = x_t.shape[1]
        eps, v = model_output[:, :channels], model_output[:, channels:]
        pred_x0 = self.x0_from_eps(x_t, i, eps)
        if x0_transform is not None:
            pred_x0 = x0_transform(pred_x0)
        if clip:
            pred_x0 = pred_x0.clamp(-1, 1)
        return Prediction(
            pred_x0=pred_x0,
            eps=eps,
            mean=self.posterior_mean(pred_x0, x_t, i),
            log_variance=self.learned_log_variance(v, i),
        )


def _gather(values: tuple[float, ...], index: Tensor, like: Tensor) -> Tensor:
    table = torch.tensor(values, dtype=torch.float32, device=like.device)
    return table[index].view(-1, *([1] * (like.dim() - 1)))
