"""Live mode in the window with tiny models: off by default, updates after a change, newer
changes cancel older updates, Apply takes the live result or renders the chosen preset first."""

from __future__ import annotations

import threading

import numpy as np
from qt_helpers import backend_of, collect, fast_settings, open_photo, paint_box

from glide_studio.core.generation.events import Cancelled, Finished, Preview
from glide_studio.core.generation.live import APPLY_RENDER, LIVE_PRESET
from glide_studio.core.imaging.region import Box
from glide_studio.qt.main_window import MainWindow

RUN_TIMEOUT = 90_000


class _Gated:
    """The tiny backend, recording each run's request; the first run holds the model thread after
    its first preview until its cancel token is set (30 s at most): an update that is surely
    still running when the test makes a newer change, on any machine."""

    def __init__(self, tiny) -> None:
        self._backend = backend_of(tiny)
        self.requests: list[object] = []
        self.tokens: list[object] = []
        self.held = threading.Event()

    @property
    def info(self):
        return self._backend.info

    def prepare(self, preparation, *, cancel=None):
        return {}

    def run(self, request, *, cancel=None):
        self.requests.append(request)
        self.tokens.append(cancel)
        first = len(self.requests) == 1
        for event in self._backend.run(request, cancel=cancel):
            yield event
            if first and isinstance(event, Preview):
                self.held.set()
                for _ in range(300):
                    if cancel is not None and cancel.cancelled:
                        break
                    threading.Event().wait(0.1)
                first = False


def _window(qtbot, settings, tmp_path, backend) -> MainWindow:
    win = MainWindow(settings=settings, backend_factory=lambda: backend, data_folder=tmp_path / "autosave")
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitUntil(lambda: win.service.info is not None, timeout=30_000)
    return win


def _close(win):
    win.close()
    assert win.service.wait_stopped(30_000)


def test_live_mode_is_off_by_default_and_a_stroke_then_starts_nothing(qtbot, window):
    open_photo(window)
    qtbot.waitUntil(lambda: window.service.info is not None, timeout=30_000)
    assert not window.prompt_panel.live.enabled and not window.live_action.isChecked()
    paint_box(window, Box(40, 30, 90, 80))
    qtbot.wait(400)  # past the quiet time: nothing may have been scheduled
    assert window.session_model.session.run is None and not window.service.busy


def test_a_change_runs_the_live_preset_with_the_current_seed_and_shows_it_in_place(qtbot, window):
    open_photo(window)
    fast_settings(window, candidates=3)
    window.prompt_panel.seed.setValue(1234)
    window.prompt_panel.lock.setChecked(False)  # the live update uses the seed shown, locked or not
    qtbot.waitUntil(lambda: window.service.info is not None, timeout=30_000)
    finished = collect(window.service, Finished)
    window.live_action.trigger()  # Ctrl+L
    assert window.prompt_panel.live.enabled
    paint_box(window, Box(40, 30, 90, 80))
    with qtbot.waitSignal(window.live.updated, timeout=RUN_TIMEOUT) as shown:
        pass
    run = window.session_model.session.run
    assert run is window.generation.live_run and run.applicable
    request = run.request
    assert (request.base, request.candidates, request.seed) == (LIVE_PRESET.base, 1, 1234)
    assert window.prompt_panel.seed.value() == 1234, "live updates never draw a new seed"
    assert window.canvas.preview_showing
    assert len(finished) == 1
    assert shown.args[0] >= 0
    assert "Live update" in window.prompt_panel.live.timing.text()  # the time, or the warning above 2 s
    assert window.live.scheduler.shown == window.live.scheduler.revision


def test_a_newer_change_cancels_the_running_update_and_only_its_result_is_shown(
    qtbot, qapp, settings, tmp_path, tiny
):
    backend = _Gated(tiny)
    win = _window(qtbot, settings, tmp_path, backend)
    try:
        doc = open_photo(win)
        fast_settings(win)
        cancelled = collect(win.service, Cancelled)
        win.live.set_enabled(True)
        paint_box(win, Box(10, 10, 40, 40))
        qtbot.waitUntil(backend.held.is_set, timeout=RUN_TIMEOUT)
        paint_box(win, Box(100, 60, 140, 100))  # the newer change, while the first update is held
        assert backend.tokens[0].cancelled, "the change cancels the running update at once"
        with qtbot.waitSignal(win.live.updated, timeout=RUN_TIMEOUT):
            pass
        assert len(cancelled) == 1 and len(backend.requests) == 2
        newest = backend.requests[1]
        np.testing.assert_array_equal(newest.mask, doc.mask)
        assert win.session_model.session.run.request is newest
    finally:
        _close(win)


def test_apply_takes_the_live_result(qtbot, window):
    doc = open_photo(window)
    fast_settings(window)
    qtbot.waitUntil(lambda: window.service.info is not None, timeout=30_000)
    window.live.set_enabled(True)
    paint_box(window, Box(40, 30, 90, 80))
    with qtbot.waitSignal(window.live.updated, timeout=RUN_TIMEOUT):
        pass
    live = window.session_model.session.run.candidates[0]
    assert window.generation.apply()
    assert doc.edits[-1].seed == live.seed
    assert not doc.mask.any()
    qtbot.wait(400)
    assert window.session_model.session.run is None, "an empty mask starts no update"
    assert "paint" in window.prompt_panel.live.timing.text()


def test_apply_can_render_the_chosen_preset_with_the_same_seed_first(qtbot, window):
    doc = open_photo(window)
    fast_settings(window, base="4")  # the chosen quality: Custom, 4 base steps
    qtbot.waitUntil(lambda: window.service.info is not None, timeout=30_000)
    finished = collect(window.service, Finished)
    window.live.set_enabled(True)
    box = window.prompt_panel.live
    box.apply_choice.setCurrentIndex(box.apply_choice.findData(APPLY_RENDER))
    paint_box(window, Box(40, 30, 90, 80))
    with qtbot.waitSignal(window.live.updated, timeout=RUN_TIMEOUT):
        pass
    live_request = window.session_model.session.run.request
    with qtbot.waitSignal(window.generation.applied, timeout=RUN_TIMEOUT):
        assert window.generation.apply()
    rendered = finished[-1]
    assert len(finished) == 2
    assert rendered.candidates[0].seed == live_request.seed
    assert doc.edits[-1].seed == live_request.seed
    assert doc.edits[-1].prompt == live_request.prompt


def test_generate_outranks_a_live_update(qtbot, qapp, settings, tmp_path, tiny):
    backend = _Gated(tiny)
    win = _window(qtbot, settings, tmp_path, backend)
    try:
        open_photo(win)
        fast_settings(win, candidates=2)
        finished = collect(win.service, Finished)
        win.live.set_enabled(True)
        paint_box(win, Box(10, 10, 40, 40))
        qtbot.waitUntil(backend.held.is_set, timeout=RUN_TIMEOUT)
        assert win.generation.generate()
        assert backend.tokens[0].cancelled
        qtbot.waitUntil(lambda: len(finished) == 1, timeout=RUN_TIMEOUT)
        assert backend.requests[-1].candidates == 2, "the user's own run, with the chosen settings"
        assert win.generation.live_run is None
    finally:
        _close(win)


def test_preparation_readies_the_live_update_while_live_mode_is_on(qtbot, window):
    window.prompt_panel.candidates.setValue(4)
    assert window.preparation.preparation().candidates == 4
    window.live.set_enabled(True)
    assert window.preparation.preparation().candidates == 1
    window.live_action.trigger()  # Ctrl+L again: off
    assert not window.prompt_panel.live.enabled
    assert window.preparation.preparation().candidates == 4


def test_live_waits_for_the_candidates_of_a_generate_and_goes_on_once_they_are_discarded(qtbot, window):
    open_photo(window)
    fast_settings(window, candidates=2)
    qtbot.waitUntil(lambda: window.service.info is not None, timeout=30_000)
    finished = collect(window.service, Finished)
    paint_box(window, Box(40, 30, 90, 80))
    assert window.generation.generate()
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=RUN_TIMEOUT)
    window.live.set_enabled(True)  # a change while the user's candidates wait
    timing = window.prompt_panel.live.timing
    qtbot.waitUntil(lambda: "apply or discard" in timing.text(), timeout=RUN_TIMEOUT)
    assert len(finished) == 1, "the user's candidates are never replaced by a live update"
    assert not window.service.busy
    with qtbot.waitSignal(window.live.updated, timeout=RUN_TIMEOUT):
        window.generation.discard()
    assert window.session_model.session.run is window.generation.live_run


def test_escape_stops_a_live_update_until_the_next_change(qtbot, qapp, settings, tmp_path, tiny):
    backend = _Gated(tiny)
    win = _window(qtbot, settings, tmp_path, backend)
    try:
        open_photo(win)
        fast_settings(win)
        cancelled = collect(win.service, Cancelled)
        win.live.set_enabled(True)
        paint_box(win, Box(10, 10, 40, 40))
        qtbot.waitUntil(backend.held.is_set, timeout=RUN_TIMEOUT)
        win.generation.cancel()  # Esc
        qtbot.waitUntil(lambda: len(cancelled) == 1, timeout=RUN_TIMEOUT)
        qtbot.wait(400)
        assert len(backend.requests) == 1 and not win.service.busy, "no new update until something changes"
        with qtbot.waitSignal(win.live.updated, timeout=RUN_TIMEOUT):
            paint_box(win, Box(60, 60, 90, 90))
        assert len(backend.requests) == 2
    finally:
        _close(win)
