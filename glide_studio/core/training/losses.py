"""The hybrid loss of Improved DDPM, which GLIDE's models were trained with.

MSE on epsilon trains the mean; a small multiple of the variational bound
trains the learned-range variance. The bound sees the mean through a stop
gradient, so only the variance channels learn from it and the MSE alone
shapes epsilon. Per-row coefficients are gathered from tensors built once
from ``Diffusion``'s float32-rounded tuples (so training and sampling use
identical numbers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..diffusion import Diffusion

__all__ = [
    "CoefficientTables",
    "LossTerms",
    "discretized_gaussian_log_likelihood",
    "hybrid_loss",
    "normal_kl",
]

_LN2 = math.log(2.0)


@dataclass(frozen=True)
class CoefficientTables:
    """``Diffusion``'s per-step coefficients as 1-D float32 tensors on one device."""

    sqrt_alphas_cumprod: Tensor
    sqrt_one_minus_alphas_cumprod: Tensor
    sqrt_recip_alphas_cumprod: Tensor
    sqrt_recipm1_alphas_cumprod: Tensor
    posterior_mean_coef1: Tensor
    posterior_mean_coef2: Tensor
    posterior_log_variance_clipped: Tensor
    log_betas: Tensor

    @classmethod
    def from_diffusion(cls, diffusion: Diffusion, device: torch.device | str = "cpu") -> CoefficientTables:
        names = cls.__dataclass_fields__
        return cls(
            **{n: torch.tensor(getattr(diffusion, n), dtype=torch.float32, device=device) for n in names}
        )

    @property
    def num_steps(self) -> int:
        return int(self.log_betas.shape[0])

    def at(self, name: str, index: Tensor, like: Tensor) -> Tensor:
        """Row ``b`` gets the coefficient at ``index[b]``, shaped to broadcast over ``like``."""
        table: Tensor = getattr(self, name)
        return table[index].view(-1, *([1] * (like.dim() - 1)))

    def q_sample(self, x0: Tensor, index: Tensor, noise: Tensor) -> Tensor:
        return (
            self.at("sqrt_alphas_cumprod", index, x0) * x0
            + self.at("sqrt_one_minus_alphas_cumprod", index, x0) * noise
        )


@dataclass(frozen=True)
class LossTerms:
    """Per-row terms (shape ``(batch,)``); ``loss`` is what the optimiser minimises."""

    loss: Tensor
    mse: Tensor
    vb: Tensor
    """The variational-bound term in bits per dimension (KL for t>0, NLL at t=0)."""


def normal_kl(mean1: Tensor, logvar1: Tensor, mean2: Tensor, logvar2: Tensor) -> Tensor:
    """KL(N(mean1, e^logvar1) ‖ N(mean2, e^logvar2)), elementwise, in nats."""
    return 0.5 * (
        -1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2)
    )


def _std_normal_cdf(x: Tensor) -> Tensor:
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def discretized_gaussian_log_likelihood(x: Tensor, *, mean: Tensor, log_scale: Tensor) -> Tensor:
    """log P(x) for 8-bit pixels in [-1, 1] under a Gaussian binned at width 2/255.

    The outermost bins extend to infinity. The upper tail is computed as the CDF
    of the negated argument, which stays accurate where 1 - CDF would round to 0.
    """
    centred = x - mean
    inv_std = torch.exp(-log_scale)
    upper = inv_std * (centred + 1.0 / 255.0)
    lower = inv_std * (centred - 1.0 / 255.0)
    tiny = 1e-12
    log_below_upper = torch.log(_std_normal_cdf(upper).clamp(min=tiny))
    log_above_lower = torch.log(_std_normal_cdf(-lower).clamp(min=tiny))
    log_bin = torch.log((_std_normal_cdf(upper) - _std_normal_cdf(lower)).clamp(min=tiny))
    return torch.where(x < -0.999, log_below_upper, torch.where(x > 0.999, log_above_lower, log_bin))


def _mean_flat(x: Tensor) -> Tensor:
    return x.flatten(1).mean(dim=1)


def hybrid_loss(
    output: Tensor,
    *,
    x0: Tensor,
    x_t: Tensor,
    noise: Tensor,
    index: Tensor,
    tables: CoefficientTables,
    vb_weight: float = 0.001,
) -> LossTerms:
    """L_simple + λ·L_vlb for one sampled step per row.

    ``vb_weight`` is λ of Improved DDPM: with one step drawn uniformly, T·L_t is
    an unbiased estimate of L_vlb, so the term added is λ·T·L_t (λ = 0.001 and
    T = 1000 weight L_t by one).
    """
    channels = x0.shape[1]
    eps, v = output[:, :channels], output[:, channels:]
    mse = _mean_flat((noise - eps) ** 2)

    frozen_eps = eps.detach()
    pred_x0 = (
        tables.at("sqrt_recip_alphas_cumprod", index, x_t) * x_t
        - tables.at("sqrt_recipm1_alphas_cumprod", index, x_t) * frozen_eps
    )
    coef1 = tables.at("posterior_mean_coef1", index, x_t)
    coef2 = tables.at("posterior_mean_coef2", index, x_t)
    model_mean = coef1 * pred_x0 + coef2 * x_t
    clipped = tables.at("posterior_log_variance_clipped", index, x_t)
    frac = (v + 1) / 2
    model_log_var = frac * tables.at("log_betas", index, x_t) + (1 - frac) * clipped

    true_mean = coef1 * x0 + coef2 * x_t
    kl = _mean_flat(normal_kl(true_mean, clipped, model_mean, model_log_var)) / _LN2
    nll = -_mean_flat(discretized_gaussian_log_likelihood(x0, mean=model_mean, log_scale=0.5 * model_log_var))
    vb = torch.where(index == 0, nll / _LN2, kl)
    loss = mse + vb_weight * tables.num_steps * vb
    return LossTerms(loss=loss, mse=mse, vb=vb)
