"""The hybrid loss and the weight average."""

from __future__ import annotations

import math

import pytest
import torch

from glide_studio.core.diffusion import Diffusion
from glide_studio.core.training import CoefficientTables, Ema, hybrid_loss
from glide_studio.core.training.ema import ema_decay
from glide_studio.core.training.losses import discretized_gaussian_log_likelihood, normal_kl


@pytest.fixture(scope="module")
def tables():
    return CoefficientTables.from_diffusion(Diffusion(noise_schedule="squaredcos_cap_v2", steps=1000))


def test_tables_match_the_diffusion_and_its_q_sample(tables):
    diffusion = Diffusion(noise_schedule="squaredcos_cap_v2", steps=1000)
    index = torch.tensor([0, 10, 999])
    assert tables.posterior_mean_coef1[10].item() == diffusion.posterior_mean_coef1[10]
    x0, noise = torch.randn(3, 3, 4, 4), torch.randn(3, 3, 4, 4)
    assert torch.equal(tables.q_sample(x0, index, noise), diffusion.q_sample(x0, index, noise))


def test_discretized_likelihood_sums_to_one_over_the_pixel_values():
    values = torch.arange(256, dtype=torch.float32) / 127.5 - 1
    for mean, log_scale in [(0.3, -3.0), (-0.95, -2.0), (0.0, -6.0)]:
        log_p = discretized_gaussian_log_likelihood(
            values, mean=torch.full_like(values, mean), log_scale=torch.full_like(values, log_scale)
        )
        assert log_p.exp().sum().item() == pytest.approx(1.0, abs=1e-4)


def test_kl_of_identical_gaussians_is_zero():
    m, lv = torch.randn(5), torch.randn(5)
    assert torch.allclose(normal_kl(m, lv, m, lv), torch.zeros(5), atol=1e-6)
    assert (normal_kl(m, lv, m + 1, lv) > 0).all()


def _loss(tables, output, index, vb_weight=0.001):
    torch.manual_seed(0)
    x0 = torch.rand(len(index), 3, 8, 8) * 2 - 1
    noise = torch.randn_like(x0)
    x_t = tables.q_sample(x0, index, noise)
    return hybrid_loss(
        output, x0=x0, x_t=x_t, noise=noise, index=index, tables=tables, vb_weight=vb_weight
    ), noise


def test_the_bound_trains_only_the_variance(tables):
    index = torch.tensor([0, 400, 999])
    output = torch.randn(3, 6, 8, 8, requires_grad=True)
    terms, _ = _loss(tables, output, index)
    terms.vb.sum().backward()
    assert output.grad[:, :3].abs().max() == 0
    assert output.grad[:, 3:].abs().max() > 0


def test_loss_is_mse_plus_weighted_bound(tables):
    index = torch.tensor([0, 500])
    output = torch.randn(2, 6, 8, 8)
    terms, noise = _loss(tables, output, index, vb_weight=0.001)
    assert torch.allclose(terms.mse, ((noise - output[:, :3]) ** 2).flatten(1).mean(1))
    assert torch.allclose(terms.loss, terms.mse + terms.vb)  # λ·T = 0.001·1000 = 1
    assert (terms.vb > 0).all() and torch.isfinite(terms.vb).all()


def test_perfect_epsilon_and_posterior_variance_give_zero_kl(tables):
    index = torch.tensor([300, 700])
    torch.manual_seed(0)
    x0 = torch.rand(2, 3, 8, 8) * 2 - 1
    noise = torch.randn_like(x0)
    x_t = tables.q_sample(x0, index, noise)
    output = torch.cat([noise, -torch.ones_like(noise)], dim=1)  # v = -1: the posterior variance
    terms = hybrid_loss(output, x0=x0, x_t=x_t, noise=noise, index=index, tables=tables)
    assert terms.mse.abs().max() == 0
    assert terms.vb.abs().max() < 1e-3


def test_ema_ramps_up_and_follows_the_weights():
    assert ema_decay(0, target=0.999) == pytest.approx(0.1)
    assert ema_decay(10**6, target=0.999) == 0.999
    model = torch.nn.Linear(2, 2)
    ema = Ema(model, decay=0.5)
    before = ema.model.weight.clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model, step=100)  # decay min(0.5, 101/110) = 0.5
    assert torch.allclose(ema.model.weight, 0.5 * before + 0.5 * model.weight)
    assert not ema.model.weight.requires_grad
    with pytest.raises(ValueError):
        Ema(model, decay=1.0)
    assert math.isclose(ema.decay, 0.5)
