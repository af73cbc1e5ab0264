"""Generation through the window with tiny random models: live previews, candidates, Apply, Cancel."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from qt_helpers import Watched, backend_of, collect, fast_settings, on_event, open_photo, paint_box

from glide_studio.core.generation.events import Cancelled, Candidate, Failed, Finished, Preview
from glide_studio.core.imaging.region import Box
from glide_studio.core.pipeline.compositing import plan_region
from glide_studio.qt.main_window import MainWindow
from tiny_models import tiny_inpainter

RUN_TIMEOUT = 90_000


def _record(window):
    events = SimpleNamespace(previews=[], frames=0, candidates=[], finished=[], cancelled=0, failed=[])
    s = window.service
    collect(s, Preview, events.previews)
    collect(s, Candidate, events.candidates)
    collect(s, Finished, events.finished)
    collect(s, Failed, events.failed)
    on_event(s, Cancelled, lambda _e: setattr(events, "cancelled", events.cancelled + 1))
    window.generation.frameDrawn.connect(lambda: setattr(events, "frames", events.frames + 1))
    return events


def _ready(qtbot, window):
    qtbot.waitUntil(lambda: window.service.info is not None, timeout=30_000)


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

    steps = [(ev.stage, ev.step, ev.total) for ev in events.previews]
    assert steps == [("base", 1, 3), ("base", 2, 3), ("base", 3, 3), ("upsample", 1, 2), ("upsample", 2, 2)]
    assert all(len(ev.images) == 2 for ev in events.previews)
    assert events.previews[0].images[0].shape == (64, 64, 4)
    assert events.previews[-1].images[0].shape == (256, 256, 4)
    assert 1 <= events.frames <= len(events.previews), "previews are coalesced, never more frames than steps"
    assert len(events.candidates) == 2 and window.candidates.count == 2
    assert window.session_model.session.run.applicable
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

    window.session_model.session.undo()
    np.testing.assert_array_equal(doc.rgb, before)
    np.testing.assert_array_equal(doc.mask, mask)
    assert not doc.modified
    window.session_model.session.redo()
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


def test_cancel_with_escape_stops_within_one_step(qtbot, window_for, tiny):
    watched = Watched(tiny)
    window = window_for(watched)
    doc = open_photo(window)
    paint_box(window, Box(40, 30, 90, 80))
    fast_settings(window, base="200")  # far more steps than run before Escape, however busy the machine
    events = _record(window)
    before = doc.rgb.copy()
    assert window.generation.generate()
    qtbot.waitUntil(lambda: len(events.previews) >= 2, timeout=RUN_TIMEOUT)
    window.activateWindow()
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Escape)
    assert watched.cancelled
    qtbot.waitUntil(lambda: events.cancelled == 1, timeout=RUN_TIMEOUT)
    # Counted on the model thread: previews already on their way to the window when Escape
    # was pressed are not steps made after it.
    assert watched.steps_after_cancel() <= 1, "at most the step in progress finishes"
    assert len(events.previews) < 200
    assert not events.finished and not events.failed
    np.testing.assert_array_equal(doc.rgb, before)
    assert window.candidates.count == 0 and not window.canvas.preview_showing
    assert window.prompt_panel.generate_button.isEnabled()
    assert "Cancelled" in window.prompt_panel.status_label.text()


class _Pausing:
    """The tiny backend, whose run holds the model thread after the preview of step ``after``
    until ``release`` is set (30 s at most): a model thread busy mid-run for as long as a test
    needs, on any machine."""

    def __init__(self, tiny, after: int) -> None:
        self._backend, self._after = backend_of(tiny), after
        self.paused, self.release = threading.Event(), threading.Event()
        self.released_in_time: bool | None = None
        self.made_after_release: list[object] = []

    @property
    def info(self):
        return self._backend.info

    def prepare(self, preparation, *, cancel=None):
        return {}

    def run(self, request, *, cancel=None):
        resumed = False
        for event in self._backend.run(request, cancel=cancel):
            if resumed:
                self.made_after_release.append(event)
            yield event
            if isinstance(event, Preview) and event.step == self._after and not resumed:
                self.paused.set()
                self.released_in_time = self.release.wait(30)
                resumed = True


def _window_of(qtbot, settings, backend) -> MainWindow:
    win = MainWindow(settings=settings, backend_factory=lambda: backend)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    _ready(qtbot, win)
    return win


def test_event_loop_stays_responsive_during_a_run(qtbot, qapp, settings, tiny):
    # Ordering, not timing: the model thread holds the run half-way until the interface thread
    # has ticked a timer and drawn a live preview; an interface that waited for the model
    # thread would never get there.
    backend = _Pausing(tiny, after=6)
    window = _window_of(qtbot, settings, backend)
    open_photo(window, 640, 480)
    paint_box(window, Box(200, 150, 360, 300))
    fast_settings(window, base="12", candidates=2)
    events = _record(window)
    ticks_while_paused: list[int] = []

    def tick() -> None:
        if backend.paused.is_set() and not backend.release.is_set():
            ticks_while_paused.append(events.frames)
            if len(ticks_while_paused) >= 5 and events.frames >= 1:
                backend.release.set()

    timer = QTimer(interval=10)
    timer.timeout.connect(tick)
    timer.start()
    try:
        assert window.generation.generate()
        qtbot.waitUntil(lambda: bool(events.finished), timeout=RUN_TIMEOUT)
    finally:
        timer.stop()
        backend.release.set()
    assert backend.released_in_time, (
        f"the interface thread did not run while the model was busy mid-run "
        f"({len(ticks_while_paused)} timer ticks, frames drawn: {ticks_while_paused[-1:]})"
    )
    assert len(events.previews) == 12 and events.frames >= 1
    window.close()
    assert window.service.wait_stopped(30_000)


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
    """A backend that fails after one preview, like a model running out of memory."""

    def __init__(self, tiny, error: BaseException) -> None:
        self._backend, self._error = backend_of(tiny, "x"), error

    @property
    def info(self):
        return self._backend.info

    def prepare(self, preparation, *, cancel=None):
        return {}

    def run(self, request, *, cancel=None):
        for k, event in enumerate(self._backend.run(request, cancel=cancel)):
            yield event
            if k == 1:
                raise self._error


@pytest.mark.parametrize("error", [RuntimeError("weights are broken"), MemoryError()])
def test_failure_shows_a_dialog_and_keeps_the_document(qtbot, qapp, settings, tiny, dialogs, error):
    def factory():
        return _Broken(tiny, error)

    win = MainWindow(settings=settings, backend_factory=factory)
    qtbot.addWidget(win)
    win.show()
    doc = open_photo(win)
    paint_box(win, Box(40, 30, 90, 80))
    fast_settings(win, base="3")
    before, mask = doc.rgb.copy(), doc.mask.copy()
    _ready(qtbot, win)  # Generate is off until a model is ready
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
    qtbot.waitUntil(win.service.thread.isFinished, timeout=20_000)  # a hang guard, not a latency


def test_engine_that_cannot_load_is_reported(qtbot, qapp, settings, dialogs):
    def factory():
        raise OSError("base_inpaint.pt: not a checkpoint")

    win = MainWindow(settings=settings, backend_factory=factory)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: "question" in dialogs.kinds(), timeout=30_000)
    _, title, text = dialogs.shown[-1]
    assert title == "The model could not be loaded" and "not a checkpoint" in text and "Download" in text
    assert win.status.model_label.text() == "Model not loaded"
    assert win.status.download_button.isVisibleTo(win.status)
    win.close()


def test_closing_the_window_mid_run_cancels_and_waits(qtbot, qapp, settings, tiny, qtlog):
    # The model thread is held inside the run (between steps 1 and 2) while the window closes:
    # close() returning at all proves it never waits for the model thread.
    backend = _Pausing(tiny, after=1)
    win = _window_of(qtbot, settings, backend)
    open_photo(win)
    paint_box(win, Box(40, 30, 90, 80))
    fast_settings(win, base="80")
    assert win.generation.generate()
    try:
        qtbot.waitUntil(backend.paused.is_set, timeout=RUN_TIMEOUT)
        win.close()
        assert not win.isVisible()
        win.close()  # a second request while stopping changes nothing and does not block
        assert not backend.release.is_set() and win.service.thread.isRunning(), (
            "closing must return while the model thread is still busy, never wait for it"
        )
        assert win.service.cancelling, "closing cancels the run"
    finally:
        backend.release.set()
    # A hang guard only; how soon the thread and the process end is benchmarks/stop_latency.py's.
    qtbot.waitUntil(win.service.thread.isFinished, timeout=20_000)
    assert backend.released_in_time
    assert not [e for e in backend.made_after_release if isinstance(e, Preview)], (
        "no step is made once the run is cancelled"
    )
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
    box = events.previews[0].box
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
    on_event(win.service, Candidate, lambda c: drawn.append(("candidate", c.index)))
    statuses: list[str] = []
    show_progress = win.prompt_panel.show_progress
    win.prompt_panel.show_progress = lambda f, text: (statuses.append(text), show_progress(f, text))
    assert win.generation.generate()
    qtbot.waitUntil(lambda: bool(events.finished), timeout=RUN_TIMEOUT)

    assert [ev.first for ev in events.previews] == [0] * 4 + [1] * 4 + [2] * 4
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
