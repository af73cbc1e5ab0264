"""Project files, PNG edit records, autosave and crash recovery (a real process killed with SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from glide_studio.core.editing import autosave
from glide_studio.core.editing.autosave import Autosaver, find_recoverable
from glide_studio.core.editing.document import Document
from glide_studio.core.editing.project import ProjectError, load_project, save_project
from glide_studio.core.editing.session import EditingSession
from glide_studio.core.generation.events import Finished
from glide_studio.core.generation.request import StageSettings
from glide_studio.core.imaging.files import load_image
from glide_studio.core.imaging.region import Box
from tiny_models import tiny_inpainter

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _rgb(width=96, height=72, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _paint(session: EditingSession, box: Box) -> None:
    snapshot = session.document.mask_snapshot()
    session.paint(box, np.ones((box.height, box.width), bool), True)
    session.push_mask_patch(session.document.capture_mask_change(snapshot, box), "Brush stroke")


def _generate(session: EditingSession, inpainter, *, candidates=2, seed=7) -> None:
    request = session.document.request(
        "a red square",
        candidates=candidates,
        seed=seed,
        guidance_scale=3.0,
        base=StageSettings(sampler="ddim", steps="3"),
        use_upsampler=False,
    )
    session.start_run(request, model="tiny")
    for event in inpainter.run(request):
        session.handle(event)


@pytest.fixture(scope="module")
def inpainter():
    return tiny_inpainter(upsampler=False)


def test_project_round_trip_restores_history_mask_prompt_and_candidates(tmp_path, inpainter):
    session = EditingSession(Document(_rgb()))
    _paint(session, Box(20, 20, 40, 40))
    _generate(session, inpainter)
    session.select(1)
    first = session.apply()
    _paint(session, Box(50, 30, 70, 50))
    _generate(session, inpainter, seed=11)
    _paint(session, Box(0, 0, 5, 5))
    session.set_prompt("a blue circle")
    path = save_project(session, tmp_path / "work.glide")

    again = load_project(path)
    np.testing.assert_array_equal(again.document.rgb, session.document.rgb)
    np.testing.assert_array_equal(again.document.mask, session.document.mask)
    assert again.prompt == "a blue circle" and len(again.document.edits) == 1
    assert again.pending_candidates == 2 and not again.stale
    for a, b in zip(again.run.candidates, session.run.candidates, strict=True):
        np.testing.assert_array_equal(a.patch, b.patch)
        assert (a.seed, a.box) == (b.seed, b.box)
    assert not again.document.modified
    # Undo takes the painted mask away first (as it would have live), then the restored edit.
    again.undo()
    assert not again.document.mask.any()
    np.testing.assert_array_equal(again.document.rgb, session.document.rgb)
    again.undo()
    np.testing.assert_array_equal(again.document.rgb, _rgb())
    # The restored record regenerates the edit exactly.
    request = session.regeneration_request(first)
    redo = load_project(path)
    assert redo.regeneration_request(redo.document.edits[0]).seed == request.seed
    result = [
        e for e in inpainter.run(redo.regeneration_request(redo.document.edits[0])) if isinstance(e, Finished)
    ]
    cand = result[0].candidates[0]
    np.testing.assert_array_equal(cand.patch[_inner(cand.box, first.image.box)], first.image.after)


def _inner(outer: Box, inner: Box) -> tuple[slice, slice]:
    return (
        slice(inner.top - outer.top, inner.bottom - outer.top),
        slice(inner.left - outer.left, inner.right - outer.left),
    )


def test_damaged_and_newer_projects_give_clear_messages(tmp_path):
    session = EditingSession(Document(_rgb()))
    path = save_project(session, tmp_path / "a.glide")
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        files = {n: zf.read(n) for n in zf.namelist()}
    manifest["version"] = 99
    newer = tmp_path / "newer.glide"
    with zipfile.ZipFile(newer, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, json.dumps(manifest) if name == "manifest.json" else data)
    with pytest.raises(ProjectError, match="newer GLIDE Studio"):
        load_project(newer)
    broken = tmp_path / "broken.glide"
    broken.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ProjectError, match=r"damaged|not a GLIDE Studio project"):
        load_project(broken)
    with pytest.raises(ProjectError, match="file not found"):
        load_project(tmp_path / "missing.glide")


def test_png_records_the_edit_list_with_mask_and_region(tmp_path, inpainter):
    session = EditingSession(Document(_rgb()))
    _paint(session, Box(20, 20, 40, 40))
    _generate(session, inpainter, candidates=1)
    session.apply()
    out = session.document.save(tmp_path / "out.png")
    reopened = Document.open(out)
    assert len(reopened.earlier_edits) == 1
    edit = reopened.earlier_edits[0]
    assert edit.prompt == "a red square" and edit.record is not None
    assert edit.record.region == session.document.edits[0].record.region
    np.testing.assert_array_equal(edit.record.mask(96, 72), session.document.edits[0].record.mask(96, 72))
    assert load_image(out).text["seed"] == "7"


def test_autosave_is_bounded_by_interval_and_removed_on_clean_exit(tmp_path):
    now = [0.0]
    saver = Autosaver(folder=tmp_path, interval=30.0, clock=lambda: now[0], synchronous=True)
    session = EditingSession(Document(_rgb()))
    assert not saver.tick(session), "nothing to lose yet"
    _paint(session, Box(1, 1, 9, 9))
    assert saver.tick(session)
    _paint(session, Box(11, 11, 19, 19))
    now[0] = 10.0
    assert not saver.tick(session), "at most every 30 s"
    assert saver.tick(session, force=True), "but at once after an apply"
    now[0] = 50.0
    assert not saver.tick(session), "nothing changed since"
    assert saver.project.is_file() and find_recoverable(tmp_path) == [], "our own process is alive"
    saver.remove()
    assert list(tmp_path.iterdir()) == []


CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    sys.path.insert(0, {tests!r})
    from pathlib import Path
    from glide_studio.core.editing.autosave import Autosaver
    from glide_studio.core.editing.document import Document
    from glide_studio.core.editing.session import EditingSession
    from glide_studio.core.generation.events import Candidate, Finished, Started
    from glide_studio.core.imaging.region import Box

    rgb = np.full((40, 50, 3), 90, np.uint8)
    session = EditingSession(Document(rgb, path="photo.png"))
    session.paint(Box(5, 5, 15, 15), np.ones((10, 10), bool), True)
    request = session.document.request("a cat", candidates=2, seed=3)
    session.start_run(request, model="demo")
    cands = tuple(
        Candidate(index=k, seed=3 + k, box=Box(5, 5, 15, 15), patch=np.full((10, 10, 3), 200 + k, np.uint8))
        for k in range(2)
    )
    session.handle(Started(stages=("base",), steps=(1,), seeds=(3, 4), box=Box(0, 0, 40, 40)))
    session.handle(Finished(candidates=cands, seconds=0.0))
    session.apply(1)
    session.paint(Box(30, 20, 40, 30), np.ones((10, 10), bool), True)
    session.start_run(session.document.request("a dog", candidates=1, seed=9))
    session.handle(Finished(candidates=(Candidate(index=0, seed=9, box=Box(30, 20, 40, 30),
        patch=np.zeros((10, 10, 3), np.uint8)),), seconds=0.0))
    session.set_prompt("a dog")
    saver = Autosaver(folder=Path({folder!r}), synchronous=True)
    assert saver.tick(session, force=True)
    print("saved", flush=True)
    time.sleep(60)
    """
)


def test_a_session_killed_with_sigkill_is_offered_for_recovery(tmp_path):
    script = CHILD.format(tests=str(PROJECT_ROOT / "tests"), folder=str(tmp_path))
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT
    )
    try:
        assert child.stdout.readline().strip() == "saved"
        assert find_recoverable(tmp_path) == [], "its process is still running"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    deadline = time.monotonic() + 30  # a hang guard: usually found at once
    found = find_recoverable(tmp_path)
    while not found and time.monotonic() < deadline:
        time.sleep(0.05)
        found = find_recoverable(tmp_path)
    assert len(found) == 1 and found[0].title == "photo.png" and found[0].edits == 1
    session = found[0].restore()
    doc = session.document
    assert (doc.rgb[5:15, 5:15] == 201).all(), "the applied edit (candidate 2) is back"
    assert doc.mask[20:30, 30:40].all() and doc.mask.sum() == 100, "the painted mask is back"
    assert session.pending_candidates == 1 and session.prompt == "a dog"
    assert doc.modified, "restored work counts as unsaved"
    session.undo()  # the painted mask first, then the edit
    assert doc.mask.sum() == 0
    session.undo()
    assert (doc.rgb == 90).all()
    found[0].discard()
    assert find_recoverable(tmp_path) == []


def test_autosave_writes_in_the_background(tmp_path, monkeypatch):
    rgb = np.random.default_rng(0).integers(0, 256, (1500, 2000, 3), dtype=np.uint8)
    session = EditingSession(Document(rgb))
    _paint(session, Box(100, 100, 300, 300))
    saver = Autosaver(folder=tmp_path)
    # Ordering, not timing: the encoding is held back until tick has returned.
    release, on_main_thread = threading.Event(), []
    write_project = autosave.write_project

    def held(snapshot, path):
        on_main_thread.append(threading.current_thread() is threading.main_thread())
        if not on_main_thread[-1]:
            release.wait(60)  # a hang guard
        write_project(snapshot, path)

    monkeypatch.setattr(autosave, "write_project", held)
    try:
        assert saver.tick(session, force=True)
        assert not saver.project.exists(), "tick returned before the project was encoded"
    finally:
        release.set()
    saver.wait()
    assert on_main_thread == [False], "tick must not encode: the project is written on another thread"
    assert load_project(saver.project).document.mask[100:300, 100:300].all()


def test_canvas_extensions_undo_save_and_regenerate(tmp_path, inpainter):
    session = EditingSession(Document(_rgb(64, 48)))
    _paint(session, Box(10, 10, 30, 30))
    _generate(session, inpainter, candidates=1)
    first = session.apply()
    before_extension = session.document.rgb.copy()
    session.extend_canvas(left=16, right=32)
    doc = session.document
    assert (doc.width, doc.height) == (112, 48)
    assert doc.mask[:, :16].all() and doc.mask[:, 80:].all() and not doc.mask[:, 16:80].any()
    np.testing.assert_array_equal(doc.rgb[:, 16:80], before_extension)
    assert (doc.rgb[:, :16] == doc.rgb[:, 16:17]).all(), "the new area repeats the edge"
    _generate(session, inpainter, candidates=1, seed=3)
    session.apply()
    final = doc.rgb.copy()
    path = save_project(session, tmp_path / "wide.glide")
    again = load_project(path)
    np.testing.assert_array_equal(again.document.rgb, final)
    again.undo()  # the fill
    again.undo()  # the extension
    assert (again.document.width, again.document.height) == (64, 48)
    np.testing.assert_array_equal(again.document.rgb, before_extension)
    rerun = session.regeneration_request(first)
    assert rerun.image.shape == (48, 64, 3), "an edit from before the extension regenerates on its canvas"
    session.undo()
    session.undo()
    np.testing.assert_array_equal(doc.rgb, before_extension)
    assert not doc.mask.any(), "the mask from before the extension is back (empty after the apply)"


def test_an_unapplied_sketch_is_kept_in_the_project(tmp_path):
    session = EditingSession(Document(_rgb()))
    session.paint_sketch(Box(5, 5, 25, 15), np.ones((10, 20), bool), (0, 200, 0))
    again = load_project(save_project(session, tmp_path / "sketch.glide"))
    layer = again.document.sketch
    assert layer is not None and layer.painted[5:15, 5:25].all() and layer.painted.sum() == 200
    assert tuple(layer.colours[10, 10]) == (0, 200, 0) and again.document.mask[5:15, 5:25].all()
    assert again.undo() and again.document.sketch.empty, "the restored sketch is its own History step"
    assert again.undo() and not again.document.mask.any()


def test_going_back_after_reopening_shows_each_edits_own_mask(tmp_path):
    """History after reopening: no pile of every later edit's mask on an earlier state."""
    from glide_studio.core.editing.document import Document
    from glide_studio.core.editing.session import EditingSession

    doc = Document(np.full((40, 40, 3), 100, np.uint8))
    session = EditingSession(doc)
    boxes = [Box(2, 2, 10, 10), Box(20, 20, 30, 30)]
    for k, box in enumerate(boxes):
        where = np.ones((box.height, box.width), bool)
        before = doc.mask_snapshot()
        session.paint(box, where, True)
        session.push_mask_patch(doc.capture_mask_change(before, box), "Brush")
        pixels = np.full((box.height, box.width, 3), 10 * (k + 1), np.uint8)
        session.apply_edit(doc.make_edit(pixels, box, {"prompt": f"edit {k}"}), forward=True)
    later = Box(30, 0, 38, 8)
    session.paint(later, np.ones((8, 8), bool), True)
    again = load_project(save_project(session, tmp_path / "p.glide"))
    masks = []
    while again.undo():
        masks.append(int(again.document.mask.sum()))
    # mask gone, edit 2 undone (its mask back), its mask gone, edit 1 undone (its mask back), gone
    assert masks == [0, 100, 0, 64, 0]
