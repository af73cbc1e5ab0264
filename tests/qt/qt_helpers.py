"""Helpers shared by the window tests (imported by name; pytest puts this folder on sys.path)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt

from glide_studio.core.editing.document import Document
from glide_studio.core.editing.session import EditingSession
from glide_studio.core.generation.cancel import CancelToken
from glide_studio.core.generation.events import Candidate, Finished, Preview, Started
from glide_studio.core.imaging.region import Box
from glide_studio.core.pipeline.inpaint import Inpainter
from glide_studio.core.runtime.engine import LocalBackend
from glide_studio.qt.main_window import MainWindow
from glide_studio.qt.worker import BackendService


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
    win.session_model.paint(box, where, True)


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
    session = win.session_model.session
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
        return backend_of(inpainter)

    win = MainWindow(settings=settings, backend_factory=load, data_folder=tmp_path / "autosave")
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.service.info is not None, timeout=30_000)
    return win


def backend_of(inpainter: Inpainter, description: str = "tiny test model") -> LocalBackend:
    """A loaded backend of ``inpainter`` as the window would get from its factory."""
    return LocalBackend.of(inpainter, description=description)


def collect(service: BackendService, kind: type, into: list | None = None) -> list:
    """Every event of ``kind`` the service passes on, gathered as they arrive."""
    into = [] if into is None else into
    service.event.connect(lambda event: into.append(event) if isinstance(event, kind) else None)
    return into


def on_event(service: BackendService, kind: type, handler: Callable[[object], object]) -> None:
    """Call ``handler`` with every event of ``kind``."""
    service.event.connect(lambda event: handler(event) if isinstance(event, kind) else None)


class Watched:
    """An inpainter (wrapped) that notes, on the model thread, every event its runs make and
    whether the run's cancel token was already set when it was made.

    What the stopping tests count instead of timing: a run cancelled mid-step makes at most
    one more step (the one in progress), however slow the machine is.
    """

    def __init__(self, inner: Inpainter) -> None:
        self._inner = inner
        self.token: CancelToken | None = None
        """The cancel token of the latest run (read by hooks on the model thread)."""
        self.made: list[tuple[object, bool]] = []

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def run(self, request, *, cancel: CancelToken | None = None):
        self.token = cancel
        for event in self._inner.run(request, cancel=cancel):
            self.made.append((event, cancel is not None and cancel.cancelled))
            yield event

    @property
    def cancelled(self) -> bool:
        return self.token is not None and self.token.cancelled

    def steps_after_cancel(self) -> int:
        """Previews (finished steps) made after the run's cancel token was set."""
        return sum(1 for event, cancelled in self.made if cancelled and isinstance(event, Preview))
