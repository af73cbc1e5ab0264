"""Runs as the user sees them: request out, live previews in, candidates to pick from.

Connects the worker's signals to the canvas, the prompt panel's progress bar
and the candidates strip. Previews are coalesced: each one replaces the
previous pending frame, and frames are drawn at most ~30 times a second, so a
fast model cannot flood the event loop and a slow one still shows every step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QRectF, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap, QUndoStack
from PySide6.QtWidgets import QWidget

from ..core.editing.document import Document
from ..core.generation.events import Candidate, Finished, Preview, Started
from ..core.generation.request import EditRequest, RequestError
from ..core.imaging.region import Box
from .canvas import CanvasView
from .convert import rgb_to_qimage, rgba_to_qimage
from .dialogs import show_error, show_info
from .document_model import DocumentModel
from .panels.candidates import THUMB, CandidatesStrip
from .panels.prompt_panel import PromptPanel
from .undo_commands import ApplyEditCommand
from .worker import InpaintService

__all__ = ["MIN_FRAME_INTERVAL_MS", "GenerationController"]

MIN_FRAME_INTERVAL_MS = 33
STAGE_NAMES = {"base": "Base", "upsample": "Upsampling"}


@dataclass(eq=False)
class _Run:
    document: Document
    state: int
    request: EditRequest
    started: float = field(default_factory=time.perf_counter)
    box: Box | None = None
    stages: tuple[str, ...] = ()
    steps: tuple[int, ...] = ()
    stage_started: float = 0.0
    candidates: list[Candidate] = field(default_factory=list)
    context: QImage | None = None
    """The original pixels of the region box (clipped to the image), for thumbnails."""


class GenerationController(QObject):
    runningChanged = Signal(bool)
    message = Signal(str)
    """A short status-bar line."""
    frameDrawn = Signal()
    """A preview frame reached the canvas (coalesced; for tests and diagnostics)."""

    def __init__(
        self,
        *,
        service: InpaintService,
        model: DocumentModel,
        canvas: CanvasView,
        panel: PromptPanel,
        strip: CandidatesStrip,
        stack: QUndoStack,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self._service, self._model, self._canvas = service, model, canvas
        self._panel, self._strip, self._stack, self._parent = panel, strip, stack, parent
        self._run: _Run | None = None
        self._pending: Preview | None = None
        self._shown: Preview | None = None
        self._last_frame = 0.0
        self._rates: dict[str, float] = {}
        """Seconds per step of each stage in the last run, for the time-left estimate."""
        self._frame_timer = QTimer(self, singleShot=True)
        self._frame_timer.timeout.connect(self._draw_pending)
        service.started.connect(self._on_started)
        service.preview.connect(self._on_preview)
        service.candidate.connect(self._on_candidate)
        service.finished.connect(self._on_finished)
        service.failed.connect(self._on_failed)
        service.cancelled.connect(self._on_cancelled)
        service.busyChanged.connect(self._on_busy)
        panel.generateRequested.connect(self.generate)
        panel.cancelRequested.connect(self.cancel)
        strip.selected.connect(self.select)
        strip.applyRequested.connect(self.apply)
        strip.discardRequested.connect(self.discard)
        model.documentReplaced.connect(self._on_document_replaced)

    @property
    def running(self) -> bool:
        return self._service.busy

    # -- commands ----------------------------------------------------------------------------

    def generate(self) -> bool:
        """Start a run for the current mask and settings; False (with a message) if it cannot start."""
        doc = self._model.document
        if self._service.busy:
            self.message.emit("A generation is already running (Esc cancels it).")
            return False
        if doc is None:
            self.message.emit("Open a photo first.")
            return False
        if doc.mask_box() is None:
            self.message.emit("Paint over the region to change first: the mask is empty.")
            return False
        try:
            settings = self._panel.request_settings()
            settings["seed"] = self._panel.next_seed()
            request = doc.request(self._panel.prompt.toPlainText().strip(), **settings)
        except RequestError as exc:
            show_error(self._parent, "Cannot generate", str(exc))
            return False
        self._run = _Run(doc, doc.image_state, request)
        self._pending = self._shown = None
        self._canvas.clear_preview()
        self._strip.begin(request.seeds)
        self._panel.show_progress(0.0, "Starting…")
        if not self._service.generate(request):
            self._run = None
            return False
        return True

    def cancel(self) -> None:
        if self._service.busy:
            self._service.cancel()
            self._panel.show_progress(self._panel.progress.value() / 1000, "Cancelling after this step…")

    def select(self, index: int) -> None:
        """Show candidate ``index`` in place (or its live preview during a run)."""
        run = self._run
        if run is None:
            return
        if index < len(run.candidates):
            cand = run.candidates[index]
            box = cand.box
            self._canvas.show_preview(rgb_to_qimage(cand.image[box.slices]), box)
        elif self._service.busy and self._pending is None and self._shown is not None:
            self._pending = self._shown  # redraw the latest frame with the new selection
            self._frame_timer.start(0)

    def apply(self, index: int | None = None) -> bool:
        """Commit a candidate to the picture as one undo step (which also clears the mask)."""
        run, doc = self._run, self._model.document
        index = self._strip.current if index is None else index
        if run is None or not self._strip.final or doc is None or not 0 <= index < len(run.candidates):
            return False
        if doc is not run.document or doc.image_state != run.state:
            show_error(
                self._parent,
                "Cannot apply",
                "The picture changed after these candidates were generated (an edit was applied or undone), "
                "so applying one would overwrite that change. Generate again.",
            )
            return False
        cand = run.candidates[index]
        parameters = {**run.request.describe(), "seed": str(cand.seed), "candidates": "1"}
        if self._service.engine is not None:
            parameters["model"] = self._service.engine.description
        edit = doc.make_edit(cand.image, cand.box, parameters)
        self._clear_candidates()
        if edit is None:
            show_info(self._parent, "Nothing to apply", "This candidate is identical to the picture.")
            return False
        self._stack.push(ApplyEditCommand(self._model, edit))
        self.message.emit(f"Applied “{edit.prompt or '(no prompt)'}” (seed {edit.seed}). Ctrl+Z undoes it.")
        return True

    def discard(self) -> None:
        if self._service.busy:
            self.cancel()
        self._clear_candidates()
        self.message.emit("Candidates discarded; the picture is unchanged.")

    def shutdown(self) -> bool:
        """Stop any run and the model thread (the window is closing)."""
        self._frame_timer.stop()
        return self._service.shutdown()

    def _clear_candidates(self) -> None:
        self._run = None
        self._pending = self._shown = None
        self._frame_timer.stop()
        self._canvas.clear_preview()
        self._strip.clear()
        self._panel.show_progress(0.0, " ")

    # -- worker events ------------------------------------------------------------------------

    def _on_started(self, event: Started) -> None:
        run = self._run
        if run is None:
            return
        run.box, run.stages, run.steps = event.box, event.stages, event.steps
        run.stage_started = time.perf_counter()
        inner = event.box.clipped(run.request.image.shape[1], run.request.image.shape[0])
        run.context = rgb_to_qimage(run.request.image[inner.slices])
        if event.prompt_truncated:
            self.message.emit("The prompt is longer than the model reads; its end was ignored.")

    def _on_preview(self, stage: str, step: int, total: int, event: Preview) -> None:
        run = self._run
        if run is None or self._service.cancelling:
            return
        now = time.perf_counter()
        if step == 1:
            run.stage_started = now
        elif step == total:
            self._rates[stage] = (now - run.stage_started) / max(total - 1, 1)
        self._show_progress(run, stage, step, total, now)
        self._pending = event
        if not self._frame_timer.isActive():
            wait = MIN_FRAME_INTERVAL_MS - (now - self._last_frame) * 1000
            self._frame_timer.start(max(0, round(wait)))

    def _draw_pending(self) -> None:
        event, run = self._pending, self._run
        self._pending = None
        if event is None or run is None or self._service.cancelling:
            return
        self._last_frame = time.perf_counter()
        self._shown = event
        images = [rgba_to_qimage(image) for image in event.images]
        selected = max(0, min(self._strip.current, len(images) - 1))
        if selected >= len(run.candidates):
            self._canvas.show_preview(images[selected], event.box)
        for k, image in enumerate(images):
            if k >= len(run.candidates):
                self._strip.set_thumbnail(k, self._thumbnail(run, image))
        self.frameDrawn.emit()

    def _on_candidate(self, cand: Candidate) -> None:
        run = self._run
        if run is None:
            return
        run.candidates.append(cand)
        if run.box is not None:
            inner = run.box.clipped(cand.image.shape[1], cand.image.shape[0])
            self._strip.set_thumbnail(
                cand.index, self._thumbnail(run, rgb_to_qimage(cand.image[inner.slices]), full=True)
            )

    def _on_finished(self, event: Finished) -> None:
        run = self._run
        if run is None:
            return
        self._frame_timer.stop()
        self._pending = None
        self._strip.finish()
        self.select(max(self._strip.current, 0))
        self._panel.show_progress(
            1.0, f"Done in {event.seconds:.1f} s · {len(event.candidates)} candidate(s)"
        )
        self.message.emit("Pick a candidate and Apply it, or Discard them all.")

    def _on_failed(self, message: str) -> None:
        self._clear_candidates()
        self._panel.show_progress(0.0, "Failed; the picture was not changed.")
        show_error(self._parent, "Generation failed", f"{message}\n\nThe picture was not changed.")

    def _on_cancelled(self) -> None:
        self._clear_candidates()
        self._panel.show_progress(0.0, "Cancelled")
        self.message.emit("Generation cancelled; the picture is unchanged.")

    def _on_busy(self, busy: bool) -> None:
        self._panel.set_running(busy)
        self.runningChanged.emit(busy)

    def _on_document_replaced(self) -> None:
        if self._service.busy:
            self._service.cancel()
        self._clear_candidates()

    # -- helpers --------------------------------------------------------------------------------

    def _show_progress(self, run: _Run, stage: str, step: int, total: int, now: float) -> None:
        index = run.stages.index(stage) if stage in run.stages else 0
        done = sum(run.steps[:index]) + step
        all_steps = max(sum(run.steps), 1)
        rate = (now - run.stage_started) / max(step - 1, 1) if step > 1 else self._rates.get(stage)
        text = f"{STAGE_NAMES.get(stage, stage)} · step {step}/{total}"
        if rate is not None:
            left = (total - step) * rate
            for later, steps in zip(run.stages[index + 1 :], run.steps[index + 1 :], strict=True):
                left += steps * self._rates.get(later, rate)
            text += f" · about {_clock(left)} left"
        self._panel.show_progress(done / all_steps, text)

    def _thumbnail(self, run: _Run, image: QImage, *, full: bool = False) -> QPixmap:
        """The region box at thumbnail size: original context with ``image`` drawn over it.

        ``full``: ``image`` is the clipped box of a final candidate; otherwise a
        preview covering the whole (possibly overhanging) box.
        """
        pixmap = QPixmap(THUMB, THUMB)
        pixmap.fill(QColor(29, 31, 35))
        box = run.box
        if box is None:
            return pixmap
        height, width = run.request.image.shape[:2]
        inner = box.clipped(width, height)
        scale = THUMB / box.width
        target = QRectF(
            (inner.left - box.left) * scale,
            (inner.top - box.top) * scale,
            inner.width * scale,
            inner.height * scale,
        )
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        if full:
            painter.drawImage(target, image)
        else:
            if run.context is not None:
                painter.drawImage(target, run.context)
            painter.setClipRect(target)
            painter.drawImage(QRectF(0, 0, THUMB, THUMB), image)
        painter.end()
        return pixmap


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"
