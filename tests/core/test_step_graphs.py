"""Step graphs, checked on the CPU with a stand-in capture: keyed by batch size, static inputs
refreshed per step and per request, eager fallbacks, guarded install; SDPA against explicit attention.

The stand-in records the step and replays it by calling it again on the static inputs, writing
into the same output tensor, which is what a CUDA graph replay does (only the kernels' launch
differs). The GPU check (benchmarks/gpu_check.sh) compares real graphs with the eager path.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from glide_studio.core.generation.backend import Preparation
from glide_studio.core.generation.events import Finished
from glide_studio.core.generation.request import EditRequest, StageSettings
from glide_studio.core.runtime.engine import LocalBackend
from glide_studio.core.runtime.step_graphs import StepGraphs, StepOptions, install_step_graphs
from tiny_models import TINY_BASE, random_model, tiny_inpainter


class FakeCapture:
    """Counts captures; optionally fails, as a capture on a real GPU can (memory, an unsupported op)."""

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.replays = 0
        self.fail = fail

    def __call__(self, step, warmup):
        self.calls += 1
        if self.fail:
            raise RuntimeError("operation not permitted when stream is capturing")
        for _ in range(warmup):
            step()
        output = step()

        def replay():
            self.replays += 1
            output.copy_(step())

        return output, replay


@pytest.fixture(scope="module")
def model():
    return random_model(TINY_BASE, seed=3)


def _inputs(model, rows: int, prompt_seed: int):
    gen = torch.Generator().manual_seed(prompt_seed)
    ctx = model.config.text_ctx
    tokens = torch.randint(0, 256, (rows, ctx), generator=gen)
    mask = torch.ones(rows, ctx, dtype=torch.bool)
    known = (torch.rand(rows, 1, 64, 64, generator=gen) > 0.5).float()
    cond = model.condition(
        tokens=tokens, mask=mask, inpaint_image=torch.rand(rows, 3, 64, 64, generator=gen), inpaint_mask=known
    )
    x = torch.randn(rows, 3, 64, 64, generator=gen)
    t = torch.randint(0, 1000, (rows,), generator=gen)
    return x, t, cond


@pytest.fixture
def graphed(model):
    capture = FakeCapture()
    graphs = StepGraphs(model, options=StepOptions(warmup=1), capture=capture)
    model.step_graphs = graphs
    yield graphs, capture
    model.step_graphs = None


def test_a_captured_size_replays_the_same_numbers_as_the_eager_step(model, graphed):
    graphs, capture = graphed
    assert graphs.capture(2) and graphs.sizes == (2,)
    with torch.inference_mode():
        for seed in (0, 1, 2):  # new x, t and a new request's conditioning each time
            x, t, cond = _inputs(model, 2, seed)
            for _ in range(2):  # the same conditioning again: copied once, still right
                torch.testing.assert_close(model.denoise(x, t, cond), model.denoise_eager(x, t, cond))
    assert graphs.hits == 6 and graphs.misses == 0
    assert capture.replays == 6


def test_graphs_are_kept_per_batch_size_and_other_sizes_run_eagerly(model, graphed):
    graphs, capture = graphed
    graphs.capture(2)
    with torch.inference_mode():
        x, t, cond = _inputs(model, 3, 5)
        torch.testing.assert_close(model.denoise(x, t, cond), model.denoise_eager(x, t, cond))
        assert (graphs.hits, graphs.misses) == (0, 1)
        assert graphs.capture(3) and graphs.capture(3)  # the second call captures nothing
        assert capture.calls == 2 and graphs.sizes == (2, 3)
        torch.testing.assert_close(model.denoise(x, t, cond), model.denoise_eager(x, t, cond))
        assert graphs.hits == 1


def test_the_output_is_a_copy_that_the_next_replay_does_not_overwrite(model, graphed):
    graphs, _ = graphed
    graphs.capture(1)
    with torch.inference_mode():
        a_inputs, b_inputs = _inputs(model, 1, 0), _inputs(model, 1, 1)
        a = model.denoise(*a_inputs)
        kept = a.clone()
        model.denoise(*b_inputs)
        torch.testing.assert_close(a, kept)


def test_a_failed_capture_falls_back_to_the_eager_step_and_is_not_retried(model):
    capture = FakeCapture(fail=True)
    graphs = StepGraphs(model, capture=capture)
    model.step_graphs = graphs
    try:
        assert not graphs.capture(2)
        assert not graphs.capture(2)
        assert capture.calls == 1 and "stream is capturing" in graphs.failed[2]
        with torch.inference_mode():
            x, t, cond = _inputs(model, 2, 0)
            torch.testing.assert_close(model.denoise(x, t, cond), model.denoise_eager(x, t, cond))
    finally:
        model.step_graphs = None


def test_compile_that_fails_keeps_the_plain_graph(model):
    def broken(step):
        raise RuntimeError("inductor is not available")

    graphs = StepGraphs(
        model, options=StepOptions(compile=True, warmup=0), capture=FakeCapture(), compiler=broken
    )
    assert graphs.capture(1)
    assert graphs.compiled == {1: False}


def test_compile_is_tried_only_when_asked(model):
    calls = []

    def compiler(step):
        calls.append(step)
        return step

    StepGraphs(model, options=StepOptions(warmup=0), capture=FakeCapture(), compiler=compiler).capture(1)
    assert calls == []
    graphs = StepGraphs(
        model, options=StepOptions(compile=True, warmup=0), capture=FakeCapture(), compiler=compiler
    )
    assert graphs.capture(1)
    assert len(calls) == 1 and 1 in graphs.compiled


def test_the_number_of_graphs_is_bounded(model):
    graphs = StepGraphs(model, options=StepOptions(max_graphs=1, warmup=0), capture=FakeCapture())
    assert graphs.capture(1)
    assert not graphs.capture(2)
    assert graphs.sizes == (1,)


def test_nothing_is_installed_on_a_cpu(model):
    assert install_step_graphs(model, StepOptions()) is None
    assert model.step_graphs is None


def test_options_from_the_environment():
    assert StepOptions.from_environ({}) == StepOptions()
    assert StepOptions.from_environ({"GLIDE_STUDIO_CUDA_GRAPHS": "0"}).graphs is False
    assert StepOptions.from_environ({"GLIDE_STUDIO_COMPILE": "1"}).compile is True
    cached = StepOptions.from_environ({"GLIDE_STUDIO_COMPILE_CACHE": "/tmp/inductor"})
    assert str(cached.compile_cache) == "/tmp/inductor"


def test_preparation_captures_the_run_sizes_and_a_whole_edit_keeps_its_pixels():
    """Prepare captures the sizes a run steps at; the edit then replays them and gives exactly
    the pixels of the eager path (same seed)."""
    inpainter = tiny_inpainter()
    backend = LocalBackend.of(inpainter, description="tiny")
    image = np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    mask = np.zeros((96, 96), bool)
    mask[20:60, 30:70] = True
    request = EditRequest(
        image=image,
        mask=mask,
        prompt="a red boat",
        base=StageSettings(sampler="dpm++2m", steps="3"),
        upsample=StageSettings(sampler="ddim", steps="2"),
        candidates=2,
        seed=4,
        guidance_scale=3.0,
    )
    eager = next(e for e in backend.run(request) if isinstance(e, Finished))
    stages = [inpainter.base, inpainter.upsampler]
    all_graphs = []
    for stage in stages:
        stage.model.step_graphs = StepGraphs(
            stage.model, options=StepOptions(warmup=0), capture=FakeCapture()
        )
        all_graphs.append(stage.model.step_graphs)
    try:
        backend.prepare(
            Preparation(
                prompt="a red boat", candidates=2, guidance_scale=3.0, clip_guidance=0.0, use_upsampler=True
            )
        )
        assert all_graphs[0].sizes == (4,) and all_graphs[1].sizes == (2,)  # guided base: 2 rows each
        graphed = next(e for e in backend.run(request) if isinstance(e, Finished))
    finally:
        for stage in stages:
            stage.model.step_graphs = None
    assert all_graphs[0].hits == 3 and all_graphs[1].hits == 2
    for a, b in zip(eager.candidates, graphed.candidates, strict=True):
        np.testing.assert_array_equal(a.patch, b.patch)


def _explicit_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    weights = torch.softmax((q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1]), dim=-1)
    return weights @ v


def test_sdpa_attention_equals_the_explicit_attention(model, monkeypatch):
    with torch.inference_mode():
        x, t, cond = _inputs(model, 2, 9)
        fused = model.denoise_eager(x, t, cond)
        monkeypatch.setattr(F, "scaled_dot_product_attention", _explicit_attention)
        explicit = model.denoise_eager(x, t, cond)
    torch.testing.assert_close(fused, explicit, rtol=1e-4, atol=1e-4)
    assert fused.abs().max() > 0.01  # the comparison is not between zeros
