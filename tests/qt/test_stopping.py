"""Cancel and close within half a second, even in the middle of a slow model step."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from qt_helpers import fast_settings, open_photo, paint_box

from glide_studio.core.imaging.region import Box
from glide_studio.qt.main_window import MainWindow
from tiny_models import tiny_inpainter

ROOT = Path(__file__).resolve().parents[2]
BLOCK_SECONDS = 0.3


def _slow_engine(entered: threading.Event):
    """The tiny model with a sleep before every UNet block: one step takes several seconds."""
    inpainter = tiny_inpainter(upsampler=False)
    model = inpainter.base.model

    def sleep(module, args):
        entered.set()
        time.sleep(BLOCK_SECONDS)

    for block in [*model.input_blocks, model.middle_block, *model.output_blocks]:
        block.register_forward_pre_hook(sleep)
    return SimpleNamespace(
        inpainter=inpainter, description="slow", device_label="CPU", is_demo=False, missing=()
    )


@pytest.fixture()
def slow_window(qtbot, qapp, settings, tmp_path):
    entered = threading.Event()
    engine = _slow_engine(entered)
    win = MainWindow(settings=settings, engine_factory=lambda: engine, data_folder=tmp_path / "autosave")
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.service.engine is not None, timeout=30_000)
    yield win, entered
    win.close()
    win.service.wait_stopped(10_000)


def test_cancel_mid_step_ends_the_run_within_half_a_second(qtbot, slow_window):
    win, entered = slow_window
    open_photo(win)
    paint_box(win, Box(40, 30, 90, 80))
    fast_settings(win, base="4")
    assert win.generation.generate()
    qtbot.waitUntil(entered.is_set, timeout=30_000)
    time.sleep(BLOCK_SECONDS * 2)  # well inside the first step
    ended = []
    win.service.cancelled.connect(lambda event: ended.append(time.perf_counter()))
    start = time.perf_counter()
    win.prompt_panel.cancel_button.click()
    qtbot.waitUntil(lambda: bool(ended), timeout=5_000)
    assert ended[0] - start < 0.5
    assert win.model.session.run is None and not win.model.document.edits, "nothing half-written"
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
    engine = _slow_engine(entered)

    def drive():
        win = next(w for w in studio.QApplication.topLevelWidgets() if hasattr(w, "generation"))
        open_photo(win)
        paint_box(win, Box(40, 30, 90, 80))
        fast_settings(win, base="4")
        def start():
            if win.service.engine is None:
                QTimer.singleShot(50, start)
                return
            win.generation.generate()
            def close():
                if not entered.is_set():
                    QTimer.singleShot(20, close)
                    return
                time.sleep(0.5)
                print("closing", time.time(), flush=True)
                win.close()
            close()
        start()

    QTimer.singleShot(0, drive)
    sys.exit(studio.run_window(lambda: engine, settings_file={settings!r}))
    """
)


def test_the_app_process_exits_within_a_second_of_closing_mid_step(tmp_path):
    script = CHILD.format(
        root=str(ROOT),
        tests=str(ROOT / "tests"),
        qt_tests=str(ROOT / "tests" / "qt"),
        settings=str(tmp_path / "s.ini"),
    )
    env = {**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen", "GLIDE_STUDIO_DATA": str(tmp_path)}
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = child.stdout.readline()
        assert line.startswith("closing"), line
        closed_at = float(line.split()[1])
        child.wait(timeout=20)
        exited = time.time()
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0
    assert exited - closed_at < 1.0, (
        f"the process lingered {exited - closed_at:.2f} s after the window closed"
    )
