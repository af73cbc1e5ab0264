"""How fast a run stops when cancelled in the middle of a step, with full-size models.

Loads the released shapes with random weights (written once, as in
``edit_speed.py``), measures the longest garbage-collection pause while loading,
then starts the default preset's edit and cancels it ``--into`` seconds into a
base step and into an upsampler step, timing the cancel until the pipeline's
``Cancelled`` event.

    python benchmarks/stop_latency.py [--weights-dir /tmp/glide-random-weights] [--into 0.3]
"""

from __future__ import annotations

import argparse
import gc
import threading
import time
from pathlib import Path

from common import emit, machine
from edit_speed import ensure_random_weights, photo

from glide_studio.core.generation.cancel import CancelToken
from glide_studio.core.generation.events import Cancelled, Preview
from glide_studio.core.generation.presets import DEFAULT_PRESET, PRESETS
from glide_studio.core.generation.request import EditRequest
from glide_studio.core.runtime.engine import load_local_backend


class GcPauses:
    """The longest collection while active (gc.callbacks: start/stop of each collection)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._start = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.longest = max(self.longest, time.perf_counter() - self._start)

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


def cancel_latency(engine, stage: str, into: float) -> dict:
    """Cancel ``into`` seconds after the given stage's second step began; seconds until Cancelled."""
    preset = PRESETS[DEFAULT_PRESET]
    image, mask = photo()
    request = EditRequest(
        image=image, mask=mask, prompt="a red barn", base=preset.base, upsample=preset.upsample, seed=1
    )
    token = CancelToken()
    step_started = threading.Event()
    ended: list[float] = []

    def consume() -> None:
        for event in engine.run(request, cancel=token):
            if isinstance(event, Preview) and event.stage == stage and event.step == 1:
                step_started.set()
            if isinstance(event, Cancelled):
                ended.append(time.perf_counter())

    worker = threading.Thread(target=consume)
    worker.start()
    step_started.wait()
    time.sleep(into)
    asked = time.perf_counter()
    token.cancel()
    worker.join()
    return {"stage": stage, "cancel_to_cancelled_s": round(ended[0] - asked, 3) if ended else None}


APP = """
import sys, time
sys.path[:0] = [{root!r}]
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from glide_studio.qt import app as studio
from glide_studio.core.editing.document import Document
from glide_studio.core.editing.session import EditingSession
from glide_studio.core.runtime.engine import load_local_backend
import numpy as np
QMessageBox.question = staticmethod(lambda *a, **k: QMessageBox.StandardButton.Discard)

def drive():
    win = next(w for w in QApplication.topLevelWidgets() if hasattr(w, "generation"))
    rng = np.random.default_rng(0)
    doc = Document(rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8))
    win.files.replace(EditingSession(doc))
    where = np.ones((200, 250), bool)
    from glide_studio.core.imaging.region import Box
    win.session_model.paint(Box(400, 300, 650, 500), where, True)
    win.prompt_panel.prompt.setPlainText("a red barn")
    win.prompt_panel.candidates.setValue(1)
    def start():
        if win.service.info is None:
            QTimer.singleShot(100, start)
            return
        win.generation.generate()
        fired = []
        def on_event(event):
            if getattr(event, "step", None) == 1 and not fired:
                fired.append(1)
                QTimer.singleShot({into_ms}, close)
        def close():
            print("closing", time.time(), flush=True)
            win.close()
        win.service.event.connect(on_event)
    start()

QTimer.singleShot(0, drive)
studio.run_window(lambda: load_local_backend(weights_dir={weights!r}, device="cpu", demo=False),
                  settings_file={settings!r})
"""


def app_exit_latency(weights: Path, into: float) -> dict:
    """The real window (offscreen), closed ``into`` seconds into the second base step."""
    import os
    import subprocess
    import sys
    import tempfile

    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        script = APP.format(
            root=str(root),
            weights=str(weights),
            settings=str(Path(tmp) / "s.ini"),
            into_ms=round(into * 1000),
        )
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "GLIDE_STUDIO_DATA": tmp}
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
        line = child.stdout.readline() if child.stdout else ""
        child.wait(timeout=600)
        exited = time.time()
    closed = float(line.split()[1]) if line.startswith("closing") else None
    return {
        "close_to_process_exit_s": round(exited - closed, 3) if closed else None,
        "exit_code": child.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights-dir", type=Path, default=Path("/tmp/glide-random-weights"))
    parser.add_argument("--into", type=float, default=0.3, help="seconds into the step before cancelling")
    args = parser.parse_args()
    ensure_random_weights(args.weights_dir)
    with GcPauses() as pauses:
        start = time.perf_counter()
        engine = load_local_backend(weights_dir=args.weights_dir, device="cpu", demo=False)
        loaded = time.perf_counter() - start
    results = [cancel_latency(engine, stage, args.into) for stage in ("base", "upsample")]
    del engine
    gc.collect()
    emit(
        {
            "machine": machine(),
            "load_s": round(loaded, 2),
            "longest_gc_pause_while_loading_ms": round(pauses.longest * 1000, 1),
            "cancel": results,
            "app": app_exit_latency(args.weights_dir, args.into),
        }
    )


if __name__ == "__main__":
    main()
