"""Helpers shared by the window tests (imported by name; pytest puts this folder on sys.path)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt

from glide_studio.core.editing.document import Document
from glide_studio.core.editing.session import EditingSession
from glide_studio.core.generation.events import Candidate, Finished, Started
from glide_studio.core.imaging.region import Box
from glide_studio.qt.main_window import MainWindow


def photo(width: int = 160, height: int = 120, seed: int = 0) -> np.ndarray:
    """A smooth picture (gradients) so that resampling artefacts would show."""
    y, x = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(seed)
    rgb = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) % 256], axis=2)
    return np.clip(rgb + rng.integers(-8, 8, rgb.shape), 0, 255).astype(np.uint8)


def open_photo(win: MainWindow, width: int = 160, height: int = 120) -> Document:
    doc = Document(photo(width, height))
    win.files.replace(EditingSession(doc))
    return doc


def paint_box(win: MainWindow, box: Box) -> None:
    """Set a mask region directly (for tests about generation, not about painting)."""
    where = np.ones((box.height, box.width), dtype=bool)
    win.model.paint(box, where, True)


LEFT, RIGHT = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton


def to_view(win: MainWindow, x: float, y: float) -> QPoint:
    """Image coordinates → viewport position (for QTest mouse events)."""
    return win.canvas.mapFromScene(QPointF(x, y))


def drag(
    qtbot, win: MainWindow, points, button=Qt.MouseButton.LeftButton, modifier=Qt.KeyboardModifier.NoModifier
):
    viewport = win.canvas.viewport()
    positions = [to_view(win, x, y) for x, y in points]
    qtbot.mousePress(viewport, button, modifier, positions[0])
    for pos in positions[1:]:
        qtbot.mouseMove(viewport, pos)
    qtbot.mouseRelease(viewport, button, modifier, positions[-1])


def fast_settings(
    win: MainWindow, *, base: str = "3", upsample: str = "2", candidates: int = 1, use_up=False
):
    panel = win.prompt_panel
    panel.set_steps(base, upsample)
    panel.candidates.setValue(candidates)
    panel.upsample.setChecked(use_up)
    panel.prompt.setPlainText("a red boat")


def apply_pixels(win: MainWindow, box: Box, pixels: np.ndarray, *, prompt: str = "a red boat", seed: int = 7):
    """Apply an edit without running a model: a finished one-candidate run whose patch is ``pixels``."""
    session = win.model.session
    assert session is not None
    request = session.document.request(prompt, seed=seed)
    session.start_run(request, model="test")
    cand = Candidate(index=0, seed=seed, box=box, patch=pixels, original=request.image)
    session.handle(Started(stages=("base",), steps=(1,), seeds=(seed,), box=box))
    session.handle(Finished(candidates=(cand,), seconds=0.0))
    return session.apply(0)


def window_with(qtbot, settings, tmp_path, inpainter) -> MainWindow:
    """A shown window whose engine is ``inpainter`` (its own, not the session's tiny one), loaded."""

    def load():
        return SimpleNamespace(
            inpainter=inpainter, description="tiny test model", device_label="CPU", is_demo=False, missing=()
        )

    win = MainWindow(settings=settings, engine_factory=load, data_folder=tmp_path / "autosave")
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.service.engine is not None, timeout=30_000)
    return win
