"""Generation through the window with tiny random models: live previews, candidates, Apply, Cancel."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from qt_helpers import fast_settings, open_photo, paint_box

from glide_studio.core.imaging.region import Box
from glide_studio.core.pipeline.compositing import plan_region
from glide_studio.qt.main_window import MainWindow
from tiny_models import tiny_inpainter

RUN_TIMEOUT = 90_000


def _record(window):
    events = SimpleNamespace(previews=[], frames=0, candidates=[], finished=[], cancelled=0, failed=[])
    s = window.service
    s.preview.connect(lambda stage, step, total, ev: events.previews.append((stage, step, total, ev)))
    s.candidate.connect(events.candidates.append)
    s.finished.connect(events.finished.append)
    s.failed.connect(events.failed.append)
    s.cancelled.connect(lambda: setattr(events, "cancelled", events.cancelled + 1))
    window.generation.frameDrawn.connect(lambda: setattr(events, "frames", events.frames + 1))
    return events


def _ready(qtbot, window):
    qtbot.waitUntil(lambda: window.service.engine is not None, timeout=30_000)


def _touched(before: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Pixels the feathered blend may change (alpha > 0), in image coordinates."""
    plan = plan_region(before, mask, output_resolution=256)
    touched = np.zeros(mask.shape, dtype=bool)
    inner = plan.box.clipped(mask.shape[1], mask.shape[0])
    alpha = plan.alpha[0, 0].numpy() > 0
    rows = slice(inner.top - plan.box.top, inner.bottom - plan.box.top)
    cols = slice(inner.left - plan.box.left, inner.right - plan.box.left)
    touched[inner.slices] = alpha[rows, cols]
    return touched


def test_run_streams_every_step_then_apply_changes_only_the_masked_region(qtbot, window):
    doc = open_photo(window, 160, 120)
    paint_box(window, Box(60, 40, 100, 80))
    fast_settings(window, base="3", upsample="2", candidates=2, use_up=True)
    _ready(qtbot, window)
    events = _record(window)
    assert window.generation.generate()
    assert window.prompt_panel.cancel_button.isVisibleTo(window)
    qtbot.waitUntil(lambda: bool(events.finished), timeout=RUN_TIMEOUT)

    steps = [(stage, step, total) for stage, step, total, _ in events.previews]
    assert steps == [("base", 1, 3), ("base", 2, 3), ("base", 3, 3), ("upsample", 1, 2), ("upsample", 2, 2)]
    assert all(len(ev.images) == 2 for *_, ev in events.previews)
    assert events.previews[0][3].images[0].shape == (64, 64, 4)
    assert events.previews[-1][3].images[0].shape == (256, 256, 4)
    assert 1 <= events.frames <= len(events.previews), "previews are coalesced, never more frames than steps"
    assert len(events.candidates) == 2 and window.candidates.count == 2
    assert window.model.session.run.applicable
    assert window.canvas.preview_showing, "the selected candidate is shown in place"
    assert window.prompt_panel.generate_button.isVisibleTo(window)

    before, mask = doc.rgb.copy(), doc.mask.copy()
    window.candidates.select(1)
    assert window.generation.apply()
    after = doc.rgb.copy()
    changed = (after != before).any(axis=2)
    assert changed[mask].any(), "the masked region was regenerated"
    assert not (changed & ~_touched(before, mask)).any(), (
        "outside the feathered band pixels are bit-identical"
    )
    np.testing.assert_array_equal(after, events.candidates[1].image)
    assert not doc.mask.any(), "Apply clears the mask for the next region"
    assert window.candidates.count == 0 and not window.canvas.preview_showing
    assert doc.modified and window.isWindowModified()
    assert doc.edits[-1].seed == events.candidates[1].seed
    assert window.history.list.count() == 2

    window.model.session.undo()
    np.testing.assert_array_equal(doc.rgb, before)
    np.testing.assert_array_equal(doc.mask, mask)
    assert not doc.modified
    window.model.session.redo()
    np.testing.assert_array_equal(doc.rgb, after)
    assert not doc.mask.any()


def test_models_are_loaded_once_and_reused(qtbot, window, engine_calls):
    open_photo(window)
    paint_box(window, Box(10, 10, 30, 30))
    fast_settings(window, base="2")
    _ready(qtbot, window)
    events = _record(window)
    for run in (1, 2):
        assert window.generation.generate()
        qtbot.waitUntil(lambda run=run: len(events.finished) == run, timeout=RUN_TIMEOUT)
        window.generation.discard()
    assert len(engine_calls) == 1


def test_cancel_with_escape_stops_within_one_step(qtbot, window):
    doc = open_photo(window)
    paint_box(window, Box(40, 30, 90, 80))
    fast_settings(window, base="60")
    _ready(qtbot, window)
    events = _record(window)
    before = doc.rgb.copy()
    assert window.generation.generate()
    qtbot.waitUntil(lambda: len(events.previews) >= 2, timeout=RUN_TIMEOUT)
    window.activateWindow()
    window.canvas.setFocus()
    at_cancel = len(events.previews)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: events.cancelled == 1, timeout=RUN_TIMEOUT)
    assert len(events.previews) - at_cancel <= 1, "at most the step in progress finishes"
    assert not events.finished and not events.failed
    np.testing.assert_array_equal(doc.rgb, before)
    assert window.candidates.count == 0 and not window.canvas.preview_showing
    assert window.prompt_panel.generate_button.isEnabled()
    assert "Cancelled" in window.prompt_panel.status_label.text()


def test_event_loop_stays_responsive_during_a_run(qtbot, window):
    open_photo(window, 640, 480)
    paint_box(window, Box(200, 150, 360, 300))
    fast_settings(window, base="12", candidates=2)
    _ready(qtbot, window)
    events = _record(window)
    ticks: list[float] = []
    timer = QTimer(interval=10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    qtbot.wait(50)
    assert window.generation.generate()
    qtbot.waitUntil(lambda: bool(events.finished), timeout=RUN_TIMEOUT)
    timer.stop()
    gaps = np.diff(ticks)
    assert len(events.previews) == 12 and events.frames >= 1
    assert gaps.max() < 0.100, f"the GUI thread stalled for {gaps.max() * 1000:.0f} ms"


def test_generate_needs_a_mask(qtbot, window, dialogs):
    open_photo(window)
    qtbot.waitUntil(lambda: not window.prompt_panel.generate_button.isEnabled())
    assert "Paint" in window.prompt_panel.status_label.text()
    assert not window.generation.generate()
    assert window.candidates.count == 0 and not dialogs.shown
    paint_box(window, Box(10, 10, 20, 20))
    qtbot.waitUntil(lambda: window.prompt_panel.generate_button.isEnabled())
    window.prompt_panel.set_steps("0", "2")
    assert not window.prompt_panel.generate_button.isEnabled(), "a bad step setting disables Generate"
    assert window.prompt_panel.status_label.text()


class _Broken:
    """An inpainter that fails after one preview, like a model running out of memory."""

    def __init__(self, tiny, error: BaseException) -> None:
        self._tiny, self._error = tiny, error

    def run(self, request):
        for k, event in enumerate(self._tiny.run(request)):
            yield event
            if k == 1:
                raise self._error


@pytest.mark.parametrize("error", [RuntimeError("weights are broken"), MemoryError()])
def test_failure_shows_a_dialog_and_keeps_the_document(qtbot, qapp, settings, tiny, dialogs, error):
    def factory():
        return SimpleNamespace(
            inpainter=_Broken(tiny, error), description="x", device_label="CPU", is_demo=False
        )

    win = MainWindow(settings=settings, engine_factory=factory)
    qtbot.addWidget(win)
    win.show()
    doc = open_photo(win)
    paint_box(win, Box(40, 30, 90, 80))
    fast_settings(win, base="3")
    before, mask = doc.rgb.copy(), doc.mask.copy()
    assert win.generation.generate()
    qtbot.waitUntil(lambda: "critical" in dialogs.kinds(), timeout=RUN_TIMEOUT)
    _, title, text = dialogs.shown[-1]
    assert title == "Generation failed"
    assert ("weights are broken" in text) if isinstance(error, RuntimeError) else ("out of memory" in text)
    np.testing.assert_array_equal(doc.rgb, before)
    np.testing.assert_array_equal(doc.mask, mask)
    assert not win.generation.running and win.candidates.count == 0
    qtbot.waitUntil(lambda: win.prompt_panel.generate_button.isEnabled())
    win.close()
    qtbot.waitUntil(win.service.thread.isFinished, timeout=2000)


def test_engine_that_cannot_load_is_reported(qtbot, qapp, settings, dialogs):
    def factory():
        raise OSError("base_inpaint.pt: not a checkpoint")

    win = MainWindow(settings=settings, engine_factory=factory)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: "question" in dialogs.kinds(), timeout=30_000)
    _, title, text = dialogs.shown[-1]
    assert title == "The model could not be loaded" and "not a checkpoint" in text and "Download" in text
    assert win.status.model_label.text() == "Model not loaded"
    assert win.status.download_button.isVisibleTo(win.status)
    win.close()


def test_closing_the_window_mid_run_cancels_and_waits(qtbot, qapp, settings, factory, qtlog):
    win = MainWindow(settings=settings, engine_factory=factory)
    qtbot.addWidget(win)
    win.show()
    open_photo(win)
    paint_box(win, Box(40, 30, 90, 80))
    fast_settings(win, base="80")
    previews = []
    win.service.preview.connect(lambda *args: previews.append(args))
    assert win.generation.generate()
    qtbot.waitUntil(lambda: bool(previews), timeout=RUN_TIMEOUT)
    start = time.perf_counter()
    win.close()
    assert time.perf_counter() - start < 0.3, "closing never blocks the interface"
    assert not win.isVisible()
    win.close()  # a second request while stopping changes nothing and does not block
    qtbot.waitUntil(win.service.thread.isFinished, timeout=1000)
    assert time.perf_counter() - start < 1.0
    qtbot.wait(50)
    problems = [r.message for r in qtlog.records if "propagateSizeHints" not in r.message]
    assert not problems


def test_region_overhanging_a_panorama_previews_and_applies(qtbot, window):
    doc = open_photo(window, 240, 48)
    paint_box(window, Box(100, 10, 130, 40))
    fast_settings(window, base="2")
    _ready(qtbot, window)
    events = _record(window)
    before, mask = doc.rgb.copy(), doc.mask.copy()
    assert window.generation.generate()
    qtbot.waitUntil(lambda: bool(events.finished), timeout=RUN_TIMEOUT)
    box = events.previews[0][3].box
    assert box.top < 0 and box.bottom > 48, "the square is taller than the picture"
    bounds = window.canvas._preview.boundingRect()
    assert bounds.top() >= 0 and bounds.bottom() <= 48, "the preview is clipped to the picture"
    assert window.generation.apply()
    changed = (doc.rgb != before).any(axis=2)
    assert changed[mask].any() and not (changed & ~_touched(before, mask)).any()


def test_candidates_made_in_turn_fill_their_own_slots_and_show_each_when_done(qtbot, window_for):
    inpainter = tiny_inpainter(upsampler=False)
    inpainter.in_turn = True  # what the engine chooses for the released models on a CPU
    win = window_for(inpainter)
    open_photo(win)
    paint_box(win, Box(40, 30, 90, 80))
    fast_settings(win, base="4", candidates=3)
    events = _record(win)
    drawn: list[tuple[str, object]] = []
    show_thumbnail, show_preview = win.candidates.set_thumbnail, win.canvas.show_preview
    win.candidates.set_thumbnail = lambda k, pixmap: (drawn.append(("thumb", k)), show_thumbnail(k, pixmap))
    win.canvas.show_preview = lambda image, box: (drawn.append(("canvas", box)), show_preview(image, box))
    win.service.candidate.connect(lambda c: drawn.append(("candidate", c.index)))
    statuses: list[str] = []
    show_progress = win.prompt_panel.show_progress
    win.prompt_panel.show_progress = lambda f, text: (statuses.append(text), show_progress(f, text))
    assert win.generation.generate()
    qtbot.waitUntil(lambda: bool(events.finished), timeout=RUN_TIMEOUT)

    assert [ev.first for *_, ev in events.previews] == [0] * 4 + [1] * 4 + [2] * 4
    assert win.candidates.count == 3 and [c.index for c in events.candidates] == [0, 1, 2]
    # Each slot got live thumbnails before its candidate arrived, and none after.
    for k in range(3):
        arrived = drawn.index(("candidate", k))
        assert ("thumb", k) in drawn[:arrived]
    # The selected first candidate is shown in place as soon as it is done, while the others run
    # (the window's handlers see each candidate before this test's recorder does).
    first_done = drawn.index(("candidate", 0))
    assert drawn[first_done - 1] == ("canvas", events.candidates[0].box)
    assert ("canvas", events.candidates[0].box) not in drawn[: drawn.index(("thumb", 0))]
    assert win.prompt_panel.progress.value() == win.prompt_panel.progress.maximum()
    statuses = [t for t in statuses if t.startswith("Candidate")]
    assert statuses[0].startswith("Candidate 1 of 3 · ") and statuses[-1].startswith("Candidate 3 of 3 · ")
