"""Cancelling a run: inside a slow model step, between steps, and keeping only finished candidates."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from glide_studio.core.generation.cancel import CancelToken
from glide_studio.core.generation.events import Cancelled, Candidate, Finished, Preview, Started
from glide_studio.core.generation.request import EditRequest, StageSettings
from tiny_models import tiny_inpainter

BLOCK_SECONDS = 0.35


def _request(**changes) -> EditRequest:
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    mask = np.zeros((48, 64), bool)
    mask[10:30, 20:40] = True
    settings = {
        "prompt": "a red barn",
        "use_upsampler": False,
        "base": StageSettings(sampler="ddim", steps="4"),
        **changes,
    }
    return EditRequest(image=image, mask=mask, **settings)


@pytest.fixture()
def slow_inpainter():
    """The tiny model with a sleep in every UNet block: one step takes about 3 s.

    Yields the inpainter, the token to run it with, and a list that gets, for every block the
    model starts, whether the token was already set then."""
    inpainter = tiny_inpainter(upsampler=False)
    model = inpainter.base.model
    token = CancelToken()
    started: list[bool] = []

    def sleep(module, args):
        started.append(token.cancelled)
        time.sleep(BLOCK_SECONDS)

    blocks = [*model.input_blocks, model.middle_block, *model.output_blocks]
    handles = [block.register_forward_pre_hook(sleep) for block in blocks]
    assert len(blocks) * BLOCK_SECONDS > 2.5
    yield inpainter, token, started
    for handle in handles:
        handle.remove()


def test_cancel_lands_inside_a_slow_step(slow_inpainter):
    # Counted in model blocks, not seconds: benchmarks/cancel_latency.py times it.
    inpainter, token, started = slow_inpainter
    events: list[object] = []

    def consume() -> None:
        for event in inpainter.run(_request(), cancel=token):
            events.append(event)

    begun = time.perf_counter()
    worker = threading.Thread(target=consume)
    worker.start()
    deadline = time.monotonic() + 60  # a hang guard
    while len(started) < 3 and time.monotonic() < deadline:  # well inside the first step
        time.sleep(0.01)
    assert len(started) >= 3
    token.cancel()
    worker.join(60)  # a hang guard: uncancelled, the run would end in Finished after four steps
    took = time.perf_counter() - begun
    assert not worker.is_alive()
    assert started.count(True) <= 1, f"{started.count(True)} blocks ran after the cancel"
    assert isinstance(events[0], Started)
    assert not any(isinstance(e, (Preview, Candidate, Finished)) for e in events)
    last = events[-1]
    assert isinstance(last, Cancelled) and last.candidates == ()
    # The run's own clock: at least the two blocks slept before the cancel, at most the whole run.
    assert 2 * BLOCK_SECONDS <= last.seconds <= took


def test_cancel_between_steps_and_after_the_first_candidate():
    inpainter = tiny_inpainter(upsampler=False)
    token = CancelToken()
    previews = []
    for event in inpainter.run(_request(), cancel=token):
        if isinstance(event, Preview):
            previews.append(event)
            if event.step == 2:
                token.cancel()
    assert [p.step for p in previews] == [1, 2]
    assert isinstance(event, Cancelled) and event.candidates == ()

    token = CancelToken()
    events = []
    for event in inpainter.run(_request(candidates=3), cancel=token):
        events.append(event)
        if isinstance(event, Candidate):
            token.cancel()
    kept = [e for e in events if isinstance(e, Candidate)]
    assert len(kept) == 1 and kept[0].index == 0
    assert isinstance(events[-1], Cancelled) and events[-1].candidates == (kept[0],)


def test_an_untouched_token_changes_nothing():
    inpainter = tiny_inpainter(upsampler=False)
    plain = next(e for e in inpainter.run(_request(candidates=2)) if isinstance(e, Finished))
    with_token = list(inpainter.run(_request(candidates=2), cancel=CancelToken()))
    assert isinstance(with_token[-1], Finished)
    for a, b in zip(plain.candidates, with_token[-1].candidates, strict=True):
        np.testing.assert_array_equal(a.image, b.image)
