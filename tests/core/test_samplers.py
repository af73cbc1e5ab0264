"""Samplers against a denoiser whose answer is known in closed form.

For Gaussian data x0 ~ N(mu, s²) the optimal noise prediction is linear in
x_t, and the probability-flow ODE keeps z = (x_t − √ᾱ·mu)/√(ᾱs² + 1 − ᾱ)
constant. Deterministic samplers must converge to that solution, and the
second-order DPM-Solver++ must get there with far fewer steps than DDIM.
"""

from __future__ import annotations

import math

import pytest
import torch

from glide_studio.core.diffusion import (
    SAMPLER_NAMES,
    Diffusion,
    ancestral,
    ddim,
    dpm_solver_pp_2m,
    paste_known_region,
    sample,
)
from glide_studio.core.generation.request import SAMPLERS

MU, S = 0.3, 0.5


def gaussian_denoiser(diffusion: Diffusion):
    abar_at = {t: diffusion.alphas_cumprod[i] for i, t in enumerate(diffusion.timesteps)}

    def denoise(x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        abar = abar_at[int(timesteps[0])]
        eps = (x - math.sqrt(abar) * MU) * math.sqrt(1 - abar) / (abar * S**2 + 1 - abar)
        return torch.cat([eps, torch.zeros_like(eps)], dim=1)

    return denoise


def exact_result(diffusion: Diffusion, x_T: torch.Tensor) -> torch.Tensor:
    """The ODE's x at the last timestep, then the optimal x0 prediction there."""
    a_T, a_0 = diffusion.alphas_cumprod[-1], diffusion.alphas_cumprod[0]
    z = (x_T - math.sqrt(a_T) * MU) / math.sqrt(a_T * S**2 + 1 - a_T)
    x_0 = math.sqrt(a_0) * MU + math.sqrt(a_0 * S**2 + 1 - a_0) * z
    return MU + S**2 * math.sqrt(a_0) / (a_0 * S**2 + 1 - a_0) * (x_0 - math.sqrt(a_0) * MU)


def final(steps) -> torch.Tensor:
    *_, last = steps
    return last.x


@pytest.fixture
def x_T():
    return torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def _errors(schedule, spacing, counts, x_T):
    errors = {}
    for name, sampler in (("ddim", ddim), ("dpm++2m", dpm_solver_pp_2m)):
        for steps in counts:
            diffusion = Diffusion(noise_schedule=schedule, respacing=f"{spacing}{steps}")
            exact = exact_result(diffusion, x_T)
            out = final(sampler(gaussian_denoiser(diffusion), diffusion, x_T, clip=False))
            errors[name, steps] = (out - exact).abs().max().item()
    return errors


@pytest.mark.parametrize("schedule", ["squaredcos_cap_v2", "linear"])
def test_deterministic_samplers_converge_and_dpm_is_second_order(schedule, x_T):
    errors = _errors(schedule, "", (100, 1000), x_T)
    # Ten times the steps: DDIM (first order) ten times closer, DPM-Solver++ about a hundred.
    assert 5 < errors["ddim", 100] / errors["ddim", 1000] < 20
    assert errors["dpm++2m", 100] / errors["dpm++2m", 1000] > 50
    assert errors["dpm++2m", 1000] < 3e-4


@pytest.mark.parametrize("schedule", ["squaredcos_cap_v2", "linear"])
def test_quadratic_spacing_makes_few_step_dpm_accurate(schedule, x_T):
    even = _errors(schedule, "", (10, 25), x_T)
    quad = _errors(schedule, "quad", (10, 15, 25), x_T)
    assert quad["dpm++2m", 25] < quad["dpm++2m", 15] < quad["dpm++2m", 10]
    for steps in (10, 25):
        assert quad["dpm++2m", steps] < even["dpm++2m", steps] / 3
        assert quad["dpm++2m", steps] < quad["ddim", steps] / 1.5
    assert quad["dpm++2m", 25] < 0.025


def test_ancestral_sampler_matches_the_data_distribution():
    diffusion = Diffusion(noise_schedule="squaredcos_cap_v2", respacing="50")
    gen = torch.Generator().manual_seed(1)
    x_T = torch.randn(64, 3, 16, 16, generator=gen, dtype=torch.float64)
    out = final(ancestral(gaussian_denoiser(diffusion), diffusion, x_T, noise=gen, clip=False))
    # Learned variance v = 0 sits between the two extremes; the sample statistics
    # still land near N(mu, s²).
    assert out.mean().item() == pytest.approx(MU, abs=0.02)
    assert out.std().item() == pytest.approx(S, rel=0.1)


@pytest.mark.parametrize("sampler", [ancestral, ddim, dpm_solver_pp_2m])
def test_known_region_is_exact_at_the_end(sampler, x_T):
    diffusion = Diffusion(noise_schedule="squaredcos_cap_v2", respacing="8")
    known = torch.rand(1, 3, 8, 8, dtype=torch.float64) * 2 - 1
    keep = torch.zeros(1, 1, 8, 8, dtype=torch.float64)
    keep[..., :4] = 1
    steps = list(
        sampler(gaussian_denoiser(diffusion), diffusion, x_T, x0_transform=paste_known_region(known, keep))
    )
    assert len(steps) == 8 and [s.index for s in steps] == list(range(8))
    for step in steps:
        assert torch.equal(step.pred_x0[..., :4], known.expand(2, -1, -1, -1)[..., :4])
    if sampler is not ancestral:  # ancestral ends on the posterior mean, a hair away
        assert torch.allclose(steps[-1].x[..., :4], known.expand(2, -1, -1, -1)[..., :4], atol=1e-6)


def test_samplers_by_name_are_the_samplers_and_unknown_names_are_refused(x_T):
    diffusion = Diffusion(noise_schedule="squaredcos_cap_v2", respacing="10")
    denoiser = gaussian_denoiser(diffusion)
    direct = {
        "ancestral": ancestral(denoiser, diffusion, x_T, noise=torch.Generator().manual_seed(3)),
        "ddim": ddim(denoiser, diffusion, x_T),
        "dpm++2m": dpm_solver_pp_2m(denoiser, diffusion, x_T),
    }
    assert set(direct) == set(SAMPLER_NAMES) == set(SAMPLERS)
    results = {}
    for name, steps in direct.items():
        results[name] = final(steps)
        named = sample(name, denoiser, diffusion, x_T, noise=torch.Generator().manual_seed(3))
        assert torch.equal(final(named), results[name]), name
    assert not torch.equal(results["ddim"], results["dpm++2m"])
    with pytest.raises(ValueError, match="unknown sampler 'euler'; known: ancestral, ddim, dpm"):
        sample("euler", denoiser, diffusion, x_T)
