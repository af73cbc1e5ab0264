"""Candidates made one after the other: each exactly as it would run alone, streamed in order."""

from __future__ import annotations

import numpy as np
import pytest

from glide_studio.core.generation.cancel import CancelToken
from glide_studio.core.generation.events import Cancelled, Candidate, Finished, Preview, Started
from glide_studio.core.generation.request import EditRequest, StageSettings
from glide_studio.core.imaging.region import Box
from glide_studio.core.remote.wire import event_from_wire, event_to_wire
from tiny_models import tiny_inpainter

FAST = {"base": StageSettings(steps="3"), "upsample": StageSettings(steps="2")}


def _request(**changes) -> EditRequest:
    image = np.random.default_rng(4).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    mask = np.zeros((60, 80), bool)
    mask[15:45, 20:55] = True
    settings = {
        "prompt": "a blue door",
        "candidates": 3,
        "seed": 40,
        "use_upsampler": True,
        **FAST,
        **changes,
    }
    return EditRequest(image=image, mask=mask, **settings)


@pytest.mark.slow
def test_candidates_in_turn_stream_each_candidate_whole_and_match_it_run_alone():
    in_turn = tiny_inpainter()
    in_turn.in_turn = True
    request = _request()
    events = list(in_turn.run(request))
    started = events[0]
    assert isinstance(started, Started)
    assert started.stages == ("base", "upsample") * 3 and started.steps == (3, 2) * 3
    assert started.seeds == (40, 41, 42)
    # Each candidate's five previews (one image each, naming it), then the candidate itself.
    order = [(e.first, e.stage, e.step) if isinstance(e, Preview) else e.index for e in events[1:-1]]
    per_candidate = [("base", 1), ("base", 2), ("base", 3), ("upsample", 1), ("upsample", 2)]
    assert order == [x for k in range(3) for x in [(k, *s) for s in per_candidate] + [k]]
    assert all(len(e.images) == 1 for e in events if isinstance(e, Preview))
    finished = events[-1]
    assert isinstance(finished, Finished) and [c.seed for c in finished.candidates] == [40, 41, 42]

    batched = tiny_inpainter()
    for k, candidate in enumerate(finished.candidates):
        alone = list(batched.run(_request(seed=40 + k, candidates=1)))[-1].candidates[0]
        assert np.array_equal(candidate.patch, alone.patch) and candidate.box == alone.box
        assert candidate.original is request.image  # shared, not a copy per candidate
    # The batched run of all three gives the same pictures, up to the batch's float rounding.
    together = list(batched.run(_request()))[-1].candidates
    for a, b in zip(finished.candidates, together, strict=True):
        assert np.abs(a.patch.astype(int) - b.patch.astype(int)).max() <= 2


def test_cancelling_in_turn_keeps_the_candidates_already_made():
    inpainter = tiny_inpainter(upsampler=False)
    inpainter.in_turn = True
    token = CancelToken()
    events = []
    for event in inpainter.run(_request(use_upsampler=False), cancel=token):
        events.append(event)
        if isinstance(event, Preview) and event.first == 1 and event.step == 2:
            token.cancel()
    assert isinstance(events[-1], Cancelled)
    assert [c.index for c in events[-1].candidates] == [0]
    assert not any(isinstance(e, Candidate) and e.index > 0 for e in events)


def test_a_single_candidate_and_preparation_run_at_one_rows_size():
    inpainter = tiny_inpainter()
    inpainter.in_turn = True
    inpainter.prepare(prompt="a blue door", candidates=4, guidance_scale=3.0)
    assert set(inpainter.base.warmed) == {2} and set(inpainter.upsampler.warmed) == {1}
    events = list(inpainter.run(_request(candidates=1)))
    assert events[0].stages == ("base", "upsample")
    assert all(e.first == 0 for e in events if isinstance(e, Preview))


def test_the_previews_owner_survives_the_wire():
    image = np.zeros((8, 8, 4), np.uint8)
    preview = Preview(stage="base", step=1, total=3, box=Box(0, 0, 8, 8), images=(image,), first=2)
    data = event_to_wire(preview)
    original = np.zeros((4, 4, 3), np.uint8)
    assert event_from_wire(data, original=original, candidates={}).first == 2
    del data["first"]  # a server from before the field: its previews are the first candidate's
    assert event_from_wire(data, original=original, candidates={}).first == 0
