"""While the user types, the model thread encodes the prompt and warms the models up; Generate
never waits for that."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import Qt
from qt_helpers import collect, fast_settings, open_photo, paint_box

from glide_studio.core.generation.events import Finished
from glide_studio.core.imaging.region import Box
from glide_studio.qt.preparation import DELAY_MS
from tiny_models import tiny_inpainter


@pytest.mark.slow
def test_typing_a_prompt_prepares_the_run_the_settings_describe(qtbot, window_for):
    inpainter = tiny_inpainter()
    win = window_for(inpainter)
    fast_settings(win, base="3", upsample="2", candidates=3, use_up=True)
    hints = []
    win.service.prepared.connect(hints.append)
    qtbot.keyClicks(win.prompt_panel.prompt, "a red bar")
    typed = time.monotonic()  # before the last key, so a slow machine can only make the wait longer
    qtbot.keyClicks(win.prompt_panel.prompt, "n")
    # Not before the user paused, then the prompt's encoding and both models at the run's size.
    qtbot.waitUntil(lambda: set(inpainter.upsampler.warmed) == {3}, timeout=30_000)
    assert time.monotonic() - typed >= DELAY_MS / 1000 * 0.9  # a lower bound: load cannot break it
    assert 6 in inpainter.base.warmed  # 3 candidates × (prompt, empty prompt)
    with_prompt = inpainter.base.prompts.misses
    assert with_prompt >= 2
    # The step times reach the progress estimate before any run has measured them.
    qtbot.waitUntil(lambda: bool(hints) and set(hints[-1]) == {"base", "upsample"}, timeout=10_000)
    ratio = hints[-1]["upsample"] / hints[-1]["base"]
    assert win.generation.clock.ratio("base", "upsample") == pytest.approx(ratio)

    open_photo(win)
    paint_box(win, Box(40, 30, 90, 80))
    finished = []
    collect(win.service, Finished, finished)
    assert win.generation.generate()
    qtbot.waitUntil(lambda: bool(finished), timeout=60_000)
    assert inpainter.base.prompts.misses == with_prompt  # the run found the prompt encoded


class _SlowPreparation:
    """The tiny inpainter, with a preparation that runs until it is cancelled (or 20 s)."""

    def __init__(self) -> None:
        self._inner = tiny_inpainter(upsampler=False)
        self.started = threading.Event()
        self.outcomes: list[str] = []

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def run(self, request, *, cancel=None):
        return self._inner.run(request, cancel=cancel)

    def prepare(self, *, cancel, **settings) -> None:
        self.started.set()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if cancel.cancelled:
                self.outcomes.append("cancelled")
                cancel.raise_if_cancelled()
            time.sleep(0.01)
        self.outcomes.append("ran out")


@pytest.mark.parametrize("how", ["generate", "close"])
def test_a_run_or_closing_the_window_stops_a_preparation_at_once(qtbot, window_for, how):
    inpainter = _SlowPreparation()
    win = window_for(inpainter)
    open_photo(win)
    paint_box(win, Box(40, 30, 90, 80))
    fast_settings(win, base="2", candidates=1, use_up=False)
    win.preparation.prepare_now()
    qtbot.waitUntil(inpainter.started.is_set, timeout=10_000)
    # No timing: uncancelled, the preparation would run its full 20 s and end "ran out"; the
    # waits below are hang guards that outlast it.
    if how == "generate":
        finished = []
        collect(win.service, Finished, finished)
        assert win.generation.generate()
        qtbot.waitUntil(lambda: bool(finished), timeout=60_000)
    else:
        win.close()
        qtbot.waitUntil(lambda: not win.service.thread.isRunning(), timeout=60_000)
    assert inpainter.outcomes == ["cancelled"]


def test_nothing_is_prepared_twice_or_while_a_run_goes(qtbot, window_for):
    inpainter = tiny_inpainter(upsampler=False)
    win = window_for(inpainter)
    fast_settings(win, base="2", candidates=1, use_up=False)
    win.prompt_panel.prompt.setPlainText("a boat")
    assert win.preparation.prepare_now()
    assert not win.preparation.prepare_now()  # same settings: already queued
    win.prompt_panel.prompt.setPlainText("a boat at dusk")
    assert win.preparation.prepare_now()
    open_photo(win)
    paint_box(win, Box(40, 30, 90, 80))
    assert win.generation.generate()
    win.prompt_panel.prompt.setPlainText("a boat at night")
    assert not win.preparation.prepare_now()  # the run has the thread
    qtbot.waitUntil(lambda: not win.service.busy, timeout=60_000)
    encoded = inpainter.base.prompts.misses  # read within the half second before preparing
    # The prompt typed during the run is prepared once the run has ended.
    qtbot.waitUntil(lambda: inpainter.base.prompts.misses == encoded + 1, timeout=10_000)
    assert not win.preparation.prepare_now()
    qtbot.keyClick(win.prompt_panel.prompt, Qt.Key.Key_Period)
    assert win.preparation.prepare_now()
