"""Issue 26.7: Generate is off without a model, one dialog per failure, a start that fails keeps the seed."""

from __future__ import annotations

from PySide6.QtCore import Qt
from qt_helpers import backend_of, fast_settings, open_photo, paint_box

from glide_studio.core.generation.events import Failed
from glide_studio.core.imaging.region import Box
from glide_studio.qt.main_window import MainWindow

RUN_TIMEOUT = 90_000


def _shown(qtbot, win: MainWindow) -> None:
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)


def _close(qtbot, win: MainWindow) -> None:
    win.close()
    qtbot.waitUntil(win.service.thread.isFinished, timeout=20_000)  # a hang guard, not a latency


def test_without_a_model_generate_is_off_and_asks_nothing_more(qtbot, qapp, settings, tmp_path, dialogs):
    loads: list[int] = []

    def factory():
        loads.append(1)
        raise OSError("base_inpaint.pt: not a checkpoint")

    win = MainWindow(settings=settings, backend_factory=factory, data_folder=tmp_path / "autosave")
    _shown(qtbot, win)
    qtbot.waitUntil(lambda: len(dialogs.shown) == 1, timeout=30_000)
    assert dialogs.kinds() == ["question"]  # the load failure, once, with the download offer
    open_photo(win)
    paint_box(win, Box(40, 30, 90, 80))
    fast_settings(win)
    panel = win.prompt_panel
    panel.lock.setChecked(False)
    panel.seed.setValue(1234)
    qtbot.waitUntil(lambda: "No model" in panel.status_label.text())
    assert not panel.generate_button.isEnabled() and not win.actions_.generate.isEnabled()
    for _ in range(2):
        qtbot.keyClick(win.canvas, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        qtbot.keyClick(panel.prompt, Qt.Key.Key_Return)  # Enter in the prompt, the other way in
        assert not win.generation.generate()
    qtbot.wait(50)  # let any queued signal arrive (a guard: nothing should)
    assert dialogs.kinds() == ["question"], dialogs.shown
    assert panel.seed.value() == 1234, "a run that never started uses up no seed"
    assert win.session_model.session.run is None and not win.generation.running
    assert len(loads) == 1, "no second load attempt behind the user's back"
    _close(qtbot, win)


class _FailingRun:
    """A loaded backend whose runs end in ``Failed`` (``raise_`` False) or raise (True)."""

    def __init__(self, tiny, *, raise_: bool) -> None:
        self._backend, self._raise = backend_of(tiny, "x"), raise_

    @property
    def info(self):
        return self._backend.info

    def prepare(self, preparation, *, cancel=None):
        return {}

    def run(self, request, *, cancel=None):
        if self._raise:
            raise RuntimeError("the model ran out of memory")
        yield Failed(message="the model ran out of memory")


def test_each_failed_run_shows_exactly_one_dialog(qtbot, qapp, settings, tiny, tmp_path, dialogs):
    for raise_ in (False, True):
        dialogs.shown.clear()
        backend = _FailingRun(tiny, raise_=raise_)
        win = MainWindow(settings=settings, backend_factory=lambda b=backend: b, data_folder=tmp_path / "a")
        _shown(qtbot, win)
        qtbot.waitUntil(lambda w=win: w.service.info is not None, timeout=30_000)
        open_photo(win)
        paint_box(win, Box(40, 30, 90, 80))
        fast_settings(win)
        for attempt in (1, 2):
            qtbot.waitUntil(win.prompt_panel.generate_button.isEnabled, timeout=RUN_TIMEOUT)
            qtbot.keyClick(win.canvas, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
            qtbot.waitUntil(lambda n=attempt: len(dialogs.shown) >= n, timeout=RUN_TIMEOUT)
            qtbot.waitUntil(lambda w=win: not w.generation.running, timeout=RUN_TIMEOUT)
            qtbot.wait(50)  # a second dialog for the same failure would arrive by now
            assert len(dialogs.shown) == attempt, dialogs.shown
        assert dialogs.kinds() == ["critical", "critical"]
        assert all("out of memory" in text for _, _, text in dialogs.shown)
        assert win.candidates.count == 0
        _close(qtbot, win)
