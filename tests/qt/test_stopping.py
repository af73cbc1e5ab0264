"""Cancel and close inside the step in progress, even in the middle of a slow model step.

These tests count the model's blocks rather than time them (the suite runs on loaded,
shared machines); how many milliseconds stopping takes is measured by
benchmarks/stop_latency.py and benchmarks/cancel_latency.py.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from qt_helpers import Watched, backend_of, fast_settings, on_event, open_photo, paint_box

from glide_studio.core.generation.events import Cancelled
from glide_studio.core.imaging.region import Box
from glide_studio.qt.main_window import MainWindow
from tiny_models import tiny_inpainter

ROOT = Path(__file__).resolve().parents[2]
BLOCK_SECONDS = 0.3


def _slow_engine(entered: threading.Event, on_block=None):
    """The tiny model with a sleep before every UNet block: one step takes several seconds.

    ``on_block(cancelled)`` is called on the model thread as each block starts, with whether
    the run's cancel token was already set (None outside a run)."""
    inpainter = Watched(tiny_inpainter(upsampler=False))
    model = inpainter.base.model
    blocks = [*model.input_blocks, model.middle_block, *model.output_blocks]

    def sleep(module, args):
        entered.set()
        if on_block is not None:
            on_block(None if inpainter.token is None else inpainter.cancelled)
        time.sleep(BLOCK_SECONDS)

    for block in blocks:
        block.register_forward_pre_hook(sleep)
    return backend_of(inpainter, "slow")


@pytest.fixture()
def slow_window(qtbot, qapp, settings, tmp_path):
    entered = threading.Event()
    blocks: list[bool | None] = []  # per block the model thread started: was the run cancelled then?
    engine = _slow_engine(entered, on_block=blocks.append)
    win = MainWindow(settings=settings, backend_factory=lambda: engine, data_folder=tmp_path / "autosave")
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.service.info is not None, timeout=30_000)
    yield win, blocks
    win.close()
    win.service.wait_stopped(10_000)


def test_cancel_mid_step_ends_the_run_inside_the_step(qtbot, slow_window):
    win, blocks = slow_window
    open_photo(win)
    paint_box(win, Box(40, 30, 90, 80))
    fast_settings(win, base="4")
    assert win.generation.generate()
    # Well inside the first step: two of its blocks have started.
    qtbot.waitUntil(lambda: blocks.count(False) >= 2, timeout=30_000)
    ended = []
    on_event(win.service, Cancelled, ended.append)
    win.prompt_panel.cancel_button.click()
    # A hang guard only (the rest of the run would take over ten seconds of sleeps and end in
    # Finished, never Cancelled); the latency itself is benchmarks/cancel_latency.py's.
    qtbot.waitUntil(lambda: bool(ended), timeout=30_000)
    assert blocks.count(True) <= 1, (
        f"{blocks.count(True)} blocks ran after the cancel: the run must stop at the next block"
    )
    assert win.session_model.session.run is None and not win.session_model.document.edits, (
        "nothing half-written"
    )
    assert win.prompt_panel.generate_button.isVisibleTo(win)


CHILD = textwrap.dedent(
    """
    import sys, threading, time
    sys.path[:0] = [{root!r}, {tests!r}, {qt_tests!r}]
    from PySide6.QtCore import QTimer
    from glide_studio.qt import app as studio
    from glide_studio.core.imaging.region import Box
    from qt_helpers import fast_settings, open_photo, paint_box
    from test_stopping import _slow_engine
    from PySide6.QtWidgets import QMessageBox
    # The user answers "Discard" when asked about the painted mask.
    QMessageBox.question = staticmethod(lambda *a, **k: QMessageBox.StandardButton.Discard)
    entered = threading.Event()

    def say(line):  # one write per line: the model thread and the interface thread both print
        sys.stdout.write(line + "\\n")
        sys.stdout.flush()

    # One line per block the model thread starts: whether the run was cancelled by then.
    engine = _slow_engine(entered, on_block=lambda cancelled: say(f"block {{cancelled}}"))

    def drive():
        win = next(w for w in studio.QApplication.topLevelWidgets() if hasattr(w, "generation"))
        open_photo(win)
        paint_box(win, Box(40, 30, 90, 80))
        fast_settings(win, base="4")
        def start():
            if win.service.info is None:
                QTimer.singleShot(50, start)
                return
            win.generation.generate()
            def close():
                if not entered.is_set():
                    QTimer.singleShot(20, close)
                    return
                time.sleep(0.5)
                say("closing")
                win.close()
                say(f"closed {{win.service.cancelling}}")
            close()
        start()

    QTimer.singleShot(0, drive)
    sys.exit(studio.run_window(lambda: engine, settings_file={settings!r}))
    """
)


def test_the_app_process_exits_after_closing_mid_step_without_finishing_the_step(tmp_path):
    script = CHILD.format(
        root=str(ROOT),
        tests=str(ROOT / "tests"),
        qt_tests=str(ROOT / "tests" / "qt"),
        settings=str(tmp_path / "s.ini"),
    )
    env = {**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen", "GLIDE_STUDIO_DATA": str(tmp_path)}
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        # A hang guard only: the process must exit by itself. How soon it exits after the
        # close (well under a second) is measured by benchmarks/stop_latency.py.
        out, _ = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, out[-2000:]
    lines = out.splitlines()
    assert "closing" in lines, out[-2000:]
    before, after = lines[: lines.index("closing")], lines[lines.index("closing") + 1 :]
    assert "block False" in before, "the window was closed in the middle of a step"
    assert "closed True" in after, "closing the window cancels the run"
    late = [line for line in after if line == "block True"]
    assert len(late) <= 1, f"{len(late)} blocks ran after the run was cancelled by the close"
