"""Encoded prompts kept between runs, and the warm-up before a run: faster, never different."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from glide_studio.core.generation.cancel import CancelToken, RunCancelled
from glide_studio.core.generation.events import Finished
from glide_studio.core.generation.request import EditRequest, StageSettings
from glide_studio.core.pipeline.prompt_cache import PromptCache
from tiny_models import tiny_inpainter

FAST = {"base": StageSettings(steps="3"), "upsample": StageSettings(steps="2")}


def _request(**changes) -> EditRequest:
    image = np.random.default_rng(3).integers(0, 256, (70, 90, 3), dtype=np.uint8)
    mask = np.zeros((70, 90), bool)
    mask[20:50, 30:60] = True
    settings = {"prompt": "a red barn", "candidates": 2, "seed": 5, **FAST, **changes}
    return EditRequest(image=image, mask=mask, **settings)


def _patches(inpainter, request) -> list[np.ndarray]:
    finished = list(inpainter.run(request))[-1]
    assert isinstance(finished, Finished)
    return [c.patch for c in finished.candidates]


def _count_calls(monkeypatch, model, name: str) -> list[int]:
    calls: list[int] = []
    real = getattr(model, name)

    def counted(*args, **kwargs):
        calls.append(args[0].shape[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(model, name, counted)
    return calls


def test_each_distinct_prompt_is_encoded_once_and_rows_keep_their_order(monkeypatch):
    stage = tiny_inpainter(upsampler=False).base
    with torch.inference_mode():
        alone = [stage.model.encode_text(*stage.tokens([p])[:2]) for p in ("a cat", "")]
        encoded = _count_calls(monkeypatch, stage.model, "encode_text")
        first = stage.encode(["a cat", "a cat", "", ""])
        again = stage.encode(["", "a cat"])
    assert encoded == [1, 1]  # "a cat" and "" once each, one row at a time; nothing for `again`
    assert stage.prompts.hits == 2 and stage.prompts.misses == 2
    assert first.batch == 4 and again.batch == 2
    for row, prompt in enumerate([0, 0, 1, 1]):
        assert torch.equal(first.proj[row], alone[prompt].proj[0])
        pairs = zip(first.kv, alone[prompt].kv, strict=True)
        assert all(torch.equal(k[row], ak[0]) and torch.equal(v[row], av[0]) for (k, v), (ak, av) in pairs)
    assert torch.equal(again.proj[0], alone[1].proj[0]) and torch.equal(again.proj[1], alone[0].proj[0])


def test_the_cache_keeps_only_the_most_recent_prompts():
    stage = tiny_inpainter(upsampler=False).base
    cache = PromptCache(capacity=2)
    with torch.inference_mode():
        for prompt in ("one", "two", "one", "three", "one", "two"):
            cache.encode(*stage.tokens([prompt])[:2], stage.model.encode_text)
    # "two" was pushed out by "three" (one was used more recently) and encoded again.
    assert len(cache) == 2 and (cache.hits, cache.misses) == (2, 4)
    with pytest.raises(ValueError, match="capacity"):
        PromptCache(capacity=0)


@pytest.mark.slow
def test_a_repeated_prompt_is_not_encoded_again_and_gives_the_same_pixels(monkeypatch):
    inpainter = tiny_inpainter()
    base_calls = _count_calls(monkeypatch, inpainter.base.model, "encode_text")
    first = _patches(inpainter, _request())
    second = _patches(inpainter, _request())
    assert base_calls == [1, 1]  # the prompt and the empty prompt, in the first run only
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    fresh = _patches(tiny_inpainter(), _request())
    assert all(np.array_equal(a, b) for a, b in zip(first, fresh, strict=True))


@pytest.mark.slow
def test_prepare_encodes_and_warms_each_stage_at_the_runs_batch_size(monkeypatch):
    inpainter = tiny_inpainter()
    prepared = tiny_inpainter()
    step_seconds = prepared.prepare(prompt="a red barn", candidates=2, guidance_scale=5.0)
    assert set(step_seconds) == {"base", "upsample"} and all(s > 0 for s in step_seconds.values())
    assert step_seconds["base"] == prepared.base.warmed[4]
    assert set(prepared.base.warmed) == {4} and set(prepared.upsampler.warmed) == {2}  # 2 × (prompt, empty)
    assert prepared.base.prompts.misses == 2 and prepared.upsampler.prompts.misses == 2  # "", prompt
    base_encodes = _count_calls(monkeypatch, prepared.base.model, "encode_text")
    up_encodes = _count_calls(monkeypatch, prepared.upsampler.model, "encode_text")
    base_steps = _count_calls(monkeypatch, prepared.base.model, "denoise")
    after = _patches(prepared, _request(use_upsampler=True))
    assert base_encodes == [] and up_encodes == []  # the run found both prompts encoded
    assert base_steps == [4, 4, 4]  # the warm-up ran at the run's own batch size
    before = _patches(inpainter, _request(use_upsampler=True))
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    # A second preparation for the same settings runs no model, and says the same times.
    assert prepared.prepare(prompt="a red barn", candidates=2, guidance_scale=5.0) == step_seconds
    assert base_encodes == [] and base_steps == [4, 4, 4]


def test_prepare_follows_guidance_upsampling_and_split_batches():
    inpainter = tiny_inpainter(max_rows=3)
    inpainter.prepare(prompt="x", candidates=4, guidance_scale=1.0, use_upsampler=False)
    assert set(inpainter.base.warmed) == {3} and set(inpainter.upsampler.warmed) == set()
    inpainter.prepare(prompt="x", candidates=1, guidance_scale=3.0, clip_guidance=0.0)
    assert set(inpainter.base.warmed) == {2, 3} and set(inpainter.upsampler.warmed) == {1}


def test_a_cancelled_preparation_stops_and_warms_nothing():
    inpainter = tiny_inpainter()
    token = CancelToken()
    token.cancel()
    with pytest.raises(RunCancelled):
        inpainter.prepare(prompt="a red barn", candidates=1, cancel=token)
    assert set(inpainter.base.warmed) == set() and set(inpainter.upsampler.warmed) == set()
