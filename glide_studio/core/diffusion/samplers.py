"""Samplers: generators over a denoiser that yield one record per step.

A denoiser maps (x_t, original timesteps) to the model's 6-channel output.
The consumer drives the loop: it can show each step's predicted x0, and it
cancels by simply not asking for the next step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from .gaussian import Diffusion, Prediction, X0Transform

__all__ = [
    "Denoiser",
    "NoiseSource",
    "Step",
    "ancestral",
    "ddim",
    "dpm_solver_pp_2m",
    "noise_from_generator",
    "noise_from_tensors",
]

Denoiser = Callable[[Tensor, Tensor], Tensor]
NoiseSource = Callable[[Tensor], Tensor]
"""Returns standard normal noise shaped like its argument."""


@dataclass(frozen=True)
class Step:
    """One finished sampling step."""

    index: int
    """0 for the first (noisiest) step, ``total - 1`` for the last."""
    total: int
    timestep: int
    """The original (0..999) timestep the model was evaluated at."""
    x: Tensor
    """The sample after this step (x_{t-1}); after the last step, the result."""
    pred_x0: Tensor


def noise_from_generator(generator: torch.Generator) -> NoiseSource:
    def draw(like: Tensor) -> Tensor:
        noise = torch.randn(like.shape, generator=generator, device=generator.device)
        return noise.to(device=like.device, dtype=like.dtype)

    return draw


def noise_from_tensors(tensors: Iterable[Tensor]) -> NoiseSource:
    """Replay given noise, one tensor per call (for reproducing recorded runs)."""
    it = iter(tensors)

    def draw(like: Tensor) -> Tensor:
        try:
            noise = next(it)
        except StopIteration:
            raise RuntimeError("the recorded noise ran out") from None
        return noise.to(device=like.device, dtype=like.dtype)

    return draw


def _noise_source(noise: torch.Generator | NoiseSource | None) -> NoiseSource:
    if noise is None:
        return torch.randn_like
    if isinstance(noise, torch.Generator):
        return noise_from_generator(noise)
    return noise


Update = Callable[[Tensor, int, Prediction], Tensor]
"""One sampler's rule: (x_t, step index i, the model's prediction) → x at index i − 1."""


def _run(
    denoiser: Denoiser,
    diffusion: Diffusion,
    x_T: Tensor,
    update: Update,
    *,
    x0_transform: X0Transform | None,
    clip: bool,
) -> Iterator[Step]:
    """The loop every sampler shares: predict, update, report; from the noisiest index down."""
    # Every step's timestep batch, built once on the sample's device.
    timesteps = [
        torch.full((x_T.shape[0],), t, dtype=torch.long, device=x_T.device) for t in diffusion.timesteps
    ]
    total = diffusion.num_steps
    x = x_T
    for n, i in enumerate(reversed(range(total))):
        pred = diffusion.predict(denoiser(x, timesteps[i]), x, i, x0_transform=x0_transform, clip=clip)
        x = update(x, i, pred)
        yield Step(index=n, total=total, timestep=diffusion.timesteps[i], x=x, pred_x0=pred.pred_x0)


def ancestral(
    denoiser: Denoiser,
    diffusion: Diffusion,
    x_T: Tensor,
    *,
    noise: torch.Generator | NoiseSource | None = None,
    x0_transform: X0Transform | None = None,
    clip: bool = True,
    mean_shift: Denoiser | None = None,
) -> Iterator[Step]:
    """Sample from the learned reverse process, one step per respaced timestep.

    ``mean_shift`` (x_t, original timesteps) → a gradient moves each step's mean
    by variance × gradient (the release's CLIP guidance).
    """
    draw = _noise_source(noise)

    def update(x: Tensor, i: int, pred: Prediction) -> Tensor:
        mean = pred.mean
        if mean_shift is not None:
            t = torch.full((x.shape[0],), diffusion.timesteps[i], dtype=torch.long, device=x.device)
            mean = mean + pred.variance * mean_shift(x, t)
        if i == 0:
            return mean
        return mean + torch.exp(0.5 * pred.log_variance) * draw(x)

    return _run(denoiser, diffusion, x_T, update, x0_transform=x0_transform, clip=clip)


def ddim(
    denoiser: Denoiser,
    diffusion: Diffusion,
    x_T: Tensor,
    *,
    eta: float = 0.0,
    noise: torch.Generator | NoiseSource | None = None,
    x0_transform: X0Transform | None = None,
    clip: bool = True,
) -> Iterator[Step]:
    """DDIM: deterministic for ``eta = 0``; epsilon re-derived from the processed x0."""
    draw = _noise_source(noise)

    def update(x: Tensor, i: int, pred: Prediction) -> Tensor:
        eps = diffusion.eps_from_x0(x, i, pred.pred_x0)
        abar = diffusion.alphas_cumprod[i]
        abar_prev = diffusion.alphas_cumprod_prev[i]
        sigma = eta * ((1 - abar_prev) / (1 - abar)) ** 0.5 * (1 - abar / abar_prev) ** 0.5
        x = pred.pred_x0 * abar_prev**0.5 + (1 - abar_prev - sigma**2) ** 0.5 * eps
        if i > 0 and sigma > 0:
            x = x + sigma * draw(x)
        return x

    return _run(denoiser, diffusion, x_T, update, x0_transform=x0_transform, clip=clip)


def dpm_solver_pp_2m(
    denoiser: Denoiser,
    diffusion: Diffusion,
    x_T: Tensor,
    *,
    x0_transform: X0Transform | None = None,
    clip: bool = True,
) -> Iterator[Step]:
    """DPM-Solver++(2M): a second-order multistep solver on the data prediction.

    Each step moves from the noise level of respaced index ``i`` to that of
    ``i - 1`` (the last one to noise-free), combining the current and previous
    x0 predictions, both with the known region pasted. The predictions are
    clipped, so the solver tolerates the cosine schedule's nearly pure-noise
    first step, where epsilon-based updates are most fragile. Use it with a
    ``quadN`` respacing: even spacing wastes its order on the noisy end.
    """
    previous: list[tuple[Tensor, float]] = []  # the last (x0 prediction, step size h)

    def update(x: Tensor, i: int, pred: Prediction) -> Tensor:
        abar, abar_next = diffusion.alphas_cumprod[i], diffusion.alphas_cumprod_prev[i]
        if abar_next >= 1.0:  # the final step lands on the data itself
            return pred.pred_x0
        h = _half_log_snr(abar_next) - _half_log_snr(abar)
        d = pred.pred_x0
        if previous:
            r = previous[0][1] / h
            d = (1 + 1 / (2 * r)) * pred.pred_x0 - (1 / (2 * r)) * previous[0][0]
        previous[:] = [(pred.pred_x0, h)]
        ratio = math.sqrt((1 - abar_next) / (1 - abar))
        return ratio * x - math.sqrt(abar_next) * math.expm1(-h) * d

    return _run(denoiser, diffusion, x_T, update, x0_transform=x0_transform, clip=clip)


def _half_log_snr(alpha_bar: float) -> float:
    """lambda = log(alpha / sigma), DPM-Solver's time variable."""
    return 0.5 * (math.log(alpha_bar) - math.log1p(-alpha_bar))


SAMPLER_NAMES = ("ancestral", "ddim", "dpm++2m")
"""The names requests, presets and scripts use for the samplers above."""


def sample(
    name: str,
    denoiser: Denoiser,
    diffusion: Diffusion,
    x_T: Tensor,
    *,
    noise: torch.Generator | NoiseSource | None = None,
    x0_transform: X0Transform | None = None,
    mean_shift: Denoiser | None = None,
) -> Iterator[Step]:
    """The sampler called ``name``; ``noise`` goes to the ones that draw any."""
    if mean_shift is not None and name != "ancestral":
        raise ValueError(f"the {name} sampler cannot shift its mean (CLIP guidance needs ancestral)")
    if name == "ancestral":
        return ancestral(
            denoiser, diffusion, x_T, noise=noise, x0_transform=x0_transform, mean_shift=mean_shift
        )
    if name == "ddim":
        return ddim(denoiser, diffusion, x_T, noise=noise, x0_transform=x0_transform)
    if name == "dpm++2m":
        return dpm_solver_pp_2m(denoiser, diffusion, x_T, x0_transform=x0_transform)
    raise ValueError(f"unknown sampler {name!r}; known: {', '.join(SAMPLER_NAMES)}")
