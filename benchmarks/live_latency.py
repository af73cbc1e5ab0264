"""Live mode's update latency in the real window: from a stroke's end to its picture on the canvas.

Opens the studio's main window (offscreen unless $QT_QPA_PLATFORM says otherwise)
with the built-in demo models (or the released ones on --device cuda with
--weights-dir), turns live mode on, and paints ``--strokes`` brush strokes with
the mouse, each after the previous update was shown. For each stroke it records
the time from the mouse release to the live result drawn on the canvas (the
debounce included: that is what the user waits), and the model's own time for the
update. With ``--upsample both`` it measures with and without the upsampler.

    QT_QPA_PLATFORM=offscreen python benchmarks/live_latency.py [--strokes 12] [--upsample both]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from common import emit, machine
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from glide_studio.core.editing.document import Document
from glide_studio.core.editing.session import EditingSession
from glide_studio.core.generation.live import LIVE_PRESET
from glide_studio.core.runtime.engine import load_local_backend
from glide_studio.qt.app import apply_theme
from glide_studio.qt.main_window import MainWindow
from glide_studio.qt.settings import temporary_settings


def _photo(width: int = 256, height: int = 256):
    import numpy as np

    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // (width - 1), y * 255 // (height - 1), (x + y) % 256], axis=2)
    return rgb.astype(np.uint8)


def _wait(app: QApplication, done, timeout: float) -> bool:
    end = time.perf_counter() + timeout
    while not done():
        if time.perf_counter() > end:
            return False
        app.processEvents()
        time.sleep(0.002)
    return True


def _stroke(win: MainWindow, k: int) -> None:
    """One brush stroke with the mouse across the picture, a different place each time."""
    viewport = win.canvas.viewport()
    y = 40 + (k * 37) % 170
    points = [win.canvas.mapFromScene(QPointF(40 + 15 * i, y + 4 * i)) for i in range(10)]
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, points[0])
    for point in points[1:]:
        QTest.mouseMove(viewport, point)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, points[-1])


def measure(app: QApplication, win: MainWindow, *, strokes: int, upsample: bool, timeout: float) -> dict:
    panel = win.prompt_panel
    panel.upsample.setChecked(upsample)
    win.session_model.session.fill_mask(False)  # each variant starts from an empty mask
    shown: list[float] = []
    win.live.updated.connect(lambda _s: shown.append(time.perf_counter()))
    latencies, model_times, misses = [], [], 0
    for k in range(strokes + 1):  # the first one pays one-off costs (kernel setup): reported apart
        before = len(shown)
        _stroke(win, k)
        released = time.perf_counter()
        if not _wait(app, lambda b=before: len(shown) > b, timeout):
            misses += 1
            continue
        app.processEvents()  # the canvas paints the result
        latency = time.perf_counter() - released
        if k == 0:
            first = latency
            continue
        latencies.append(latency)
        model_times.append(win.live.scheduler.compute[-1])
    win.live.updated.disconnect()
    return {
        "upsample": upsample,
        "strokes": len(latencies),
        "missed": misses,
        "first_s": first if strokes else None,
        "median_s": statistics.median(latencies) if latencies else None,
        "p90_s": sorted(latencies)[int(0.9 * (len(latencies) - 1))] if latencies else None,
        "best_s": min(latencies) if latencies else None,
        "model_median_s": statistics.median(model_times) if model_times else None,
        "debounce_s": win.live.scheduler.debounce_s,
        "panel_text": panel.live.timing.text(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--strokes", type=int, default=12)
    parser.add_argument("--upsample", choices=("on", "off", "both"), default="both")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--weights-dir", type=Path, default=None, help="released models (else the demo)")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    apply_theme(app)
    demo = args.weights_dir is None
    start = time.perf_counter()
    backend = load_local_backend(demo=demo, weights_dir=args.weights_dir, device=args.device)
    load_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        settings = temporary_settings(Path(tmp) / "settings.ini")
        win = MainWindow(
            settings=settings, backend_factory=lambda: backend, data_folder=Path(tmp) / "autosave"
        )
        win.resize(1400, 900)
        win.show()
        _wait(app, lambda: win.service.info is not None, 60)
        win.files.replace(EditingSession(Document(_photo())))
        win.canvas.fit_to_window()
        win.prompt_panel.prompt.setPlainText("a red square")
        win.canvas.set_brush_size(24)
        win.live.set_enabled(True)
        runs = []
        for upsample in {"on": [True], "off": [False], "both": [False, True]}[args.upsample]:
            runs.append(measure(app, win, strokes=args.strokes, upsample=upsample, timeout=args.timeout))
            print(runs[-1], file=sys.stderr, flush=True)
        emit(
            {
                "machine": machine(),
                "models": backend.info.description,
                "device": backend.info.device_label,
                "load_s": load_s,
                "live_preset": {"base": vars(LIVE_PRESET.base), "upsample": vars(LIVE_PRESET.upsample)},
                "runs": runs,
            }
        )
        win.live.set_enabled(False)
        win.service.shutdown()
        win.service.wait_stopped(30_000)
    sys.stdout.flush()
    os._exit(0)  # no close prompt for the unapplied live result: nothing here is the user's


if __name__ == "__main__":
    main()
