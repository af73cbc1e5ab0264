"""The whole edit with small random models of the real architecture."""

from __future__ import annotations

import numpy as np
import pytest

from glide_studio.core.generation.events import Candidate, Finished, Preview, Started
from glide_studio.core.generation.request import EditRequest, RequestError, StageSettings
from tiny_models import tiny_inpainter

FAST = {"base": StageSettings(steps="3"), "upsample": StageSettings(steps="2")}


@pytest.fixture(scope="module")
def inpainter():
    return tiny_inpainter()


def _photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _request(image, mask, **changes) -> EditRequest:
    settings = {"prompt": "a red barn", "use_upsampler": False, **FAST, **changes}
    return EditRequest(image=image, mask=mask, **settings)


def _run(inpainter, request):
    events = list(inpainter.run(request))
    return events, events[-1]


def test_event_stream_counts_and_order(inpainter):
    image = _photo(97, 61)
    mask = np.zeros((61, 97), bool)
    mask[20:40, 30:50] = True
    events, finished = _run(inpainter, _request(image, mask, candidates=2, seed=11, use_upsampler=True))
    assert isinstance(events[0], Started)
    assert events[0].stages == ("base", "upsample") and events[0].steps == (3, 2)
    assert events[0].seeds == (11, 12)
    previews = [e for e in events if isinstance(e, Preview)]
    assert [(p.stage, p.step, p.total) for p in previews] == [
        ("base", 1, 3),
        ("base", 2, 3),
        ("base", 3, 3),
        ("upsample", 1, 2),
        ("upsample", 2, 2),
    ]
    assert all(len(p.images) == 2 for p in previews)
    assert previews[0].images[0].shape == (64, 64, 4) and previews[-1].images[0].shape == (256, 256, 4)
    candidates = [e for e in events if isinstance(e, Candidate)]
    assert [c.index for c in candidates] == [0, 1] and [c.seed for c in candidates] == [11, 12]
    assert isinstance(finished, Finished) and finished.candidates == tuple(candidates)


@pytest.mark.parametrize(("width", "height"), [(97, 61), (33, 250), (301, 173)])
def test_output_size_and_untouched_pixels(inpainter, width, height):
    image = _photo(width, height, seed=width)
    mask = np.zeros((height, width), bool)
    mask[height // 3 : height // 2, width // 4 : width // 2] = True
    _, finished = _run(inpainter, _request(image, mask))
    result = finished.candidates[0].image
    assert result.shape == image.shape and result.dtype == np.uint8
    box = finished.candidates[0].box
    outside = np.ones((height, width), bool)
    outside[box.slices] = False
    assert np.array_equal(result[outside], image[outside])
    assert not np.array_equal(result[mask], image[mask])


def test_same_seed_same_pixels_and_different_seeds_differ(inpainter):
    image = _photo(80, 80)
    mask = np.zeros((80, 80), bool)
    mask[10:50, 10:50] = True
    a = _run(inpainter, _request(image, mask, seed=3))[1].candidates[0].image
    b = _run(inpainter, _request(image, mask, seed=3))[1].candidates[0].image
    c = _run(inpainter, _request(image, mask, seed=4))[1].candidates[0].image
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_a_candidate_is_reproduced_alone(inpainter):
    image = _photo(64, 64)
    mask = np.zeros((64, 64), bool)
    mask[16:48, 16:48] = True
    batch = _run(inpainter, _request(image, mask, seed=20, candidates=3))[1].candidates
    alone = _run(inpainter, _request(image, mask, seed=batch[2].seed))[1].candidates[0]
    diff = np.abs(batch[2].image.astype(int) - alone.image.astype(int))
    assert diff.max() <= 1  # float rounding of a different batch size, at most one level


def test_chunked_rows_give_the_same_result():
    image = _photo(64, 64)
    mask = np.zeros((64, 64), bool)
    mask[8:40, 8:40] = True
    request = _request(image, mask, seed=5, candidates=2)
    whole = _run(tiny_inpainter(upsampler=False), request)[1].candidates
    parts = _run(tiny_inpainter(upsampler=False, max_rows=1), request)[1].candidates
    for a, b in zip(whole, parts, strict=True):
        assert np.abs(a.image.astype(int) - b.image.astype(int)).max() <= 1


def test_cancelling_between_steps_leaves_nothing_behind(inpainter):
    image = _photo(64, 64)
    original = image.copy()
    mask = np.zeros((64, 64), bool)
    mask[8:40, 8:40] = True
    request = _request(image, mask)
    stream = inpainter.run(request)
    seen = []
    for event in stream:
        seen.append(event)
        if isinstance(event, Preview) and event.step == 2:
            break
    stream.close()
    assert [type(e) for e in seen] == [Started, Preview, Preview]
    assert np.array_equal(image, original)
    # The same inpainter runs the next request normally.
    assert isinstance(_run(inpainter, request)[1], Finished)


@pytest.mark.parametrize("case", ["whole", "one_pixel", "border", "corner"])
def test_mask_shapes(inpainter, case):
    image = _photo(120, 90)
    mask = np.zeros((90, 120), bool)
    if case == "whole":
        mask[:] = True
    elif case == "one_pixel":
        mask[45, 60] = True
    elif case == "border":
        mask[:, :6] = True
    else:
        mask[80:, 110:] = True
    _, finished = _run(inpainter, _request(image, mask))
    result = finished.candidates[0].image
    assert result.shape == image.shape
    assert not np.array_equal(result[mask], image[mask])
    if case != "whole":
        far = np.ones_like(mask)
        far[finished.candidates[0].box.slices] = False
        assert far.any() and np.array_equal(result[far], image[far])


def test_empty_mask_is_a_clear_error():
    with pytest.raises(RequestError, match="mask is empty"):
        _request(_photo(10, 10), np.zeros((10, 10), bool))


def test_guidance_one_skips_the_unconditional_rows():
    inpainter = tiny_inpainter(upsampler=False)
    calls = []
    model = inpainter.base.model
    original = model.denoise

    def counting(x, t, cond, **kwargs):
        calls.append(x.shape[0])
        return original(x, t, cond, **kwargs)

    model.denoise = counting
    image = _photo(64, 64)
    mask = np.zeros((64, 64), bool)
    mask[:32] = True
    list(inpainter.run(_request(image, mask, guidance_scale=1.0, candidates=2)))
    list(inpainter.run(_request(image, mask, guidance_scale=4.0, candidates=2)))
    assert calls == [2, 2, 2, 4, 4, 4]


def test_long_prompt_is_flagged():
    inpainter = tiny_inpainter(upsampler=False)
    image = _photo(64, 64)
    mask = np.zeros((64, 64), bool)
    mask[:32] = True
    started = next(inpainter.run(_request(image, mask, prompt="x" * 40)))
    assert started.prompt_truncated
    started = next(inpainter.run(_request(image, mask, prompt="short")))
    assert not started.prompt_truncated
