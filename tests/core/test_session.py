"""The editing session without Qt: runs, candidates, apply, undo, staleness, regeneration."""

from __future__ import annotations

import numpy as np
import pytest

from glide_studio.core.editing.document import Document
from glide_studio.core.editing.patches import EditRecord
from glide_studio.core.editing.run import RunStatus
from glide_studio.core.editing.session import ChangeKind, EditingSession, SessionError, StaleCandidatesError
from glide_studio.core.generation.events import Cancelled, Candidate, Finished, Started
from glide_studio.core.generation.request import StageSettings
from glide_studio.core.generation.settings import GenerationSettings
from glide_studio.core.imaging.region import Box


def _session(width=64, height=48, seed=0) -> EditingSession:
    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return EditingSession(Document(rgb))


def _paint(session: EditingSession, box: Box) -> None:
    snapshot = session.document.mask_snapshot()
    session.paint(box, np.ones((box.height, box.width), bool), True)
    patch = session.document.capture_mask_change(snapshot, box)
    assert patch is not None
    session.push_mask_patch(patch, "Brush stroke")


def _feed_run(session: EditingSession, *, candidates=3, value_base=10, box: Box | None = None):
    box = box or Box(8, 8, 24, 20)
    request = session.document.request(
        "a red square", candidates=candidates, seed=40, base=StageSettings(sampler="ddim", steps="4")
    )
    run = session.start_run(request, model="tiny")
    session.handle(Started(stages=("base",), steps=(4,), seeds=request.seeds, box=Box(0, 0, 32, 32)))
    made = []
    for k, seed in enumerate(request.seeds):
        patch = np.full((box.height, box.width, 3), value_base + k, np.uint8)
        cand = Candidate(index=k, seed=seed, box=box, patch=patch, original=request.image)
        session.handle(cand)
        made.append(cand)
    session.handle(Finished(candidates=tuple(made), seconds=0.1))
    return run


def test_a_run_collects_candidates_and_notifies():
    session = _session()
    changes = []
    session.subscribe(changes.append)
    _paint(session, Box(10, 10, 20, 20))
    run = _feed_run(session)
    assert run.status is RunStatus.FINISHED and [c.index for c in run.candidates] == [0, 1, 2]
    assert session.pending_candidates == 3 and "3 candidate(s)" in session.unapplied_work
    assert ChangeKind.RUN in {c.kind for c in changes}
    session.select(2)
    assert run.selected_candidate is run.candidates[2]


def test_candidates_hold_only_their_box():
    session = _session(400, 300)
    _paint(session, Box(100, 100, 120, 120))
    run = _feed_run(session, candidates=4)
    assert all(c.patch.nbytes == 16 * 12 * 3 for c in run.candidates)
    assert all(c.original is run.request.image for c in run.candidates), "shared, not copied"


def test_apply_changes_pixels_clears_mask_and_undo_brings_candidates_back():
    session = _session()
    before = session.document.rgb.copy()
    _paint(session, Box(10, 10, 20, 20))
    run = _feed_run(session)
    session.select(1)
    edit = session.apply()
    assert edit is not None and session.run is None and session.document.mask_box() is None
    assert (session.document.rgb[8:20, 8:24] == 11).all()
    assert (
        edit.record is not None
        and edit.record.settings["seed"] == 41
        and edit.record.region == Box(0, 0, 32, 32)
    )
    assert edit.parameters["seed"] == "41" and edit.parameters["model"] == "tiny"
    assert session.undo()
    np.testing.assert_array_equal(session.document.rgb, before)
    assert session.run is run and session.pending_candidates == 3 and run.selected == 1
    assert session.document.mask_box() == Box(10, 10, 20, 20), "the cleared mask comes back"
    session.select(2)
    assert session.apply() is not None and (session.document.rgb[8:20, 8:24] == 12).all()


def test_redo_of_apply_reapplies_and_drops_the_run_again():
    session = _session()
    _paint(session, Box(10, 10, 20, 20))
    _feed_run(session)
    session.apply()
    after = session.document.rgb.copy()
    session.undo()
    assert session.redo()
    np.testing.assert_array_equal(session.document.rgb, after)
    assert session.run is None


def test_stale_candidates_cannot_be_applied():
    session = _session()
    _paint(session, Box(10, 10, 20, 20))
    _feed_run(session)
    session.apply()
    _paint(session, Box(30, 30, 40, 40))
    _feed_run(session, value_base=100)
    session.undo()  # the stroke
    session.undo()  # the first apply: the picture changes under the new candidates
    assert session.stale
    with pytest.raises(StaleCandidatesError):
        session.apply()


def test_a_second_run_cannot_start_while_one_runs_and_undo_waits():
    session = _session()
    _paint(session, Box(10, 10, 20, 20))
    request = session.document.request("x")
    session.start_run(request)
    with pytest.raises(SessionError, match="already running"):
        session.start_run(request)
    assert not session.undo(), "undo waits while a run is going"


def test_cancel_keeps_finished_candidates_and_discard_drops_them():
    session = _session()
    _paint(session, Box(10, 10, 20, 20))
    request = session.document.request("x", candidates=2, seed=1)
    run = session.start_run(request)
    cand = Candidate(index=0, seed=1, box=Box(0, 0, 4, 4), patch=np.zeros((4, 4, 3), np.uint8))
    session.handle(Cancelled(candidates=(cand,), seconds=1.0))
    assert run.status is RunStatus.CANCELLED and session.pending_candidates == 1
    session.discard()
    assert session.run is None
    session.start_run(request)
    session.handle(Cancelled(candidates=(), seconds=1.0))
    assert session.run is None, "a cancelled run with nothing finished leaves nothing behind"


def test_failure_ends_the_run():
    session = _session()
    _paint(session, Box(10, 10, 20, 20))
    session.start_run(session.document.request("x"))
    session.fail("out of memory")
    assert session.run is None and not session.document.modified


def test_mask_fill_invert_and_go_to():
    session = _session()
    assert session.fill_mask(True) and session.document.mask.all()
    session.invert_mask()
    assert not session.document.mask.any()
    assert session.history.index == 2
    session.go_to(0)
    assert not session.document.mask.any() and session.history.can_redo
    session.go_to(1)
    assert session.document.mask.all()


def test_regeneration_request_rebuilds_the_picture_and_mask():
    session = _session()
    original = session.document.rgb.copy()
    _paint(session, Box(10, 10, 20, 20))
    _feed_run(session)
    first = session.apply()
    _paint(session, Box(30, 30, 40, 44))
    _feed_run(session, value_base=200, box=Box(28, 28, 44, 46))
    session.apply()
    request = session.regeneration_request(first)
    np.testing.assert_array_equal(request.image, original)
    assert request.mask[10:20, 10:20].all() and request.mask.sum() == 100
    assert request.seed == 40 and request.candidates == 1 and request.base.steps == "4"


def test_redo_after_undo_makes_newer_candidates_current_again():
    session = _session()
    _paint(session, Box(10, 10, 20, 20))
    _feed_run(session)
    session.apply()
    _paint(session, Box(30, 30, 40, 40))
    newer = _feed_run(session, value_base=100)
    session.undo()
    session.undo()
    assert session.run is newer and session.stale
    session.redo()
    assert session.run is newer and not session.stale


def test_a_stage_that_did_not_run_is_not_recorded():
    session = _session()
    _paint(session, Box(10, 10, 20, 20))
    _feed_run(session)  # the run's Started names only the base stage
    assert session.run.request.use_upsampler
    edit = session.apply()
    assert "upsample_steps" not in edit.parameters and "upsample_sampler" not in edit.parameters


def test_a_sketch_edit_records_its_sketch_and_regenerates_with_it():
    session = _session()
    original = session.document.rgb.copy()
    _paint(session, Box(10, 10, 20, 20))
    sketch = original.copy()
    sketch[10:20, 10:20] = (255, 0, 0)
    request = session.document.request("a red square", seed=5, sketch=sketch, strength=0.6)
    session.start_run(request)
    session.handle(Started(stages=("base",), steps=(3,), seeds=(5,), box=Box(0, 0, 32, 32)))
    patch = np.full((10, 10, 3), 9, np.uint8)
    session.handle(
        Finished(candidates=(Candidate(index=0, seed=5, box=Box(10, 10, 20, 20), patch=patch),), seconds=0)
    )
    edit = session.apply()
    again = EditRecord.from_json(edit.record.to_json())
    rerun = session.regeneration_request(edit)
    np.testing.assert_array_equal(rerun.sketch[0:32, 0:32], sketch[0:32, 0:32])
    assert rerun.strength == 0.6
    np.testing.assert_array_equal(again.sketch, edit.record.sketch)


def test_a_chosen_square_is_recorded_and_regenerates_with_it():
    from glide_studio.core.imaging.region import Region

    session = _session(width=200, height=150)
    _paint(session, Box(10, 10, 20, 20))
    session.set_region(Region(left=4, top=2, size=80))
    assert session.area().box == Box(4, 2, 84, 82) and session.area().notes == ()
    request = session.request_for(GenerationSettings(prompt="x", detail="on"))
    assert request.region == Region(left=4, top=2, size=80)
    session.start_run(request)
    session.handle(Started(stages=("base", "detail"), steps=(3, 2), seeds=(0,), box=Box(4, 2, 84, 82)))
    patch = np.full((10, 10, 3), 9, np.uint8)
    session.handle(
        Finished(candidates=(Candidate(index=0, seed=0, box=Box(10, 10, 20, 20), patch=patch),), seconds=0)
    )
    edit = session.apply()
    assert edit.parameters["region"] == "4,2,80" and "detail_steps" in edit.parameters
    again = session.regeneration_request(edit)
    assert again.region == Region(left=4, top=2, size=80) and again.detail == "on"
    session.set_region(None)
    assert session.area() is None  # the mask was cleared by Apply
