"""Runs as the user sees them: wiring between the session's run, the worker, the canvas and the strip.

The run itself (request, candidates, selection, how it ended) lives in the
core editing session. This controller starts runs, feeds the worker's events
into the session, and draws: live previews on the canvas (coalesced: each
frame replaces the previous pending one, at most ~30 a second, so a fast model
cannot flood the event loop and a slow one still shows every step),
thumbnails in the strip, progress and the time left in the prompt panel.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QObject, QRectF, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QWidget

from ..core.editing.run import Run
from ..core.editing.session import SessionError
from ..core.generation.events import Cancelled, Candidate, Event, Failed, Finished, Preview, Started
from ..core.generation.progress import ProgressClock
from ..core.generation.request import RequestError
from ..core.imaging.region import Box
from .canvas import CanvasView
from .convert import rgb_to_qimage, rgba_to_qimage
from .dialogs import ask_yes_no, show_error, show_info
from .panels.candidates import THUMB, CandidatesStrip
from .panels.prompt_panel import PromptPanel
from .session_model import SessionModel
from .worker import BackendService

__all__ = ["MIN_FRAME_INTERVAL_MS", "GenerationController"]

MIN_FRAME_INTERVAL_MS = 33


class GenerationController(QObject):
    runningChanged = Signal(bool)
    message = Signal(str)
    """A short status-bar line."""
    frameDrawn = Signal()
    """A preview frame reached the canvas (coalesced; for tests and diagnostics)."""
    applied = Signal()
    """A candidate became part of the picture (the window autosaves at once)."""
    needFiles = Signal(str, str)
    """A feature needs released files that are missing: (download group, why)."""

    def __init__(
        self,
        *,
        service: BackendService,
        model: SessionModel,
        canvas: CanvasView,
        panel: PromptPanel,
        strip: CandidatesStrip,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self._service, self._model, self._canvas = service, model, canvas
        self._panel, self._strip, self._parent = panel, strip, parent
        self._pending: Preview | None = None
        self._shown: Preview | None = None
        self._last_frame = 0.0
        self._context: QImage | None = None
        """The original pixels of the run's region box (clipped to the image), for thumbnails."""
        self._clock = ProgressClock()
        self._frame_timer = QTimer(self, singleShot=True)
        self._frame_timer.timeout.connect(self._draw_pending)
        self._handlers: dict[type, Callable[[Any], None]] = {
            Started: self._on_started,
            Preview: self._on_preview,
            Candidate: self._on_candidate,
            Finished: self._on_finished,
            Cancelled: self._on_cancelled,
            Failed: self._on_failed,
        }
        service.event.connect(self._on_event)
        service.busyChanged.connect(self._on_busy)
        service.prepared.connect(self._clock.expect)  # step times before any run: a better first estimate
        panel.generateRequested.connect(self.generate)
        panel.cancelRequested.connect(self.cancel)
        strip.selected.connect(self.select)
        strip.applyRequested.connect(self.apply)
        strip.discardRequested.connect(self.discard)
        model.runChanged.connect(self._on_run_changed)
        model.historyChanged.connect(self._on_run_changed)
        model.sessionReplaced.connect(self._on_session_replaced)

    @property
    def clock(self) -> ProgressClock:
        """The run's progress estimate (read by tests and diagnostics)."""
        return self._clock

    @property
    def running(self) -> bool:
        return self._service.busy

    @property
    def run(self) -> Run | None:
        session = self._model.session
        return session.run if session is not None else None

    # -- commands ----------------------------------------------------------------------------

    def generate(self) -> bool:
        """Start a run for the current mask and settings; False (with a message) if it cannot start.

        Right after the canvas was extended, the run fills the new area (outpainting)."""
        session = self._model.session
        if session is None:
            self.message.emit("Open a photo first.")
            return False
        info = self._service.info
        try:
            settings = self._panel.settings()
        except RequestError as exc:
            show_error(self._parent, "Cannot generate", str(exc))
            return False
        check = session.check_run(settings, info, busy=self._service.busy)
        if check.refusal:
            self.message.emit(check.refusal)
            return False
        if check.files_group:
            self.needFiles.emit(check.files_group, check.files_why)
            return False
        if check.question and not ask_yes_no(
            self._parent, "Generate again", check.question, default_yes=False
        ):
            return False
        try:
            request = session.request_for(replace(settings, seed=self._panel.next_seed()))
            session.start_run(request, model=info.description if info is not None else "")
        except (RequestError, SessionError) as exc:
            show_error(self._parent, "Cannot generate", str(exc))
            return False
        session.set_prompt(settings.prompt)
        for warning in session.run_warnings(request, info):
            self.message.emit(warning)
        self._pending = self._shown = None
        self._canvas.clear_preview()
        self._clock.begin()
        self._panel.show_progress(0.0, "Starting…")
        if not self._service.generate(request):
            session.fail("The model thread is not running.")
            return False
        self._canvas.setFocus()
        return True

    def cancel(self) -> None:
        if self._service.busy:
            self._service.cancel()
            self._panel.show_progress(self._panel.progress.value() / 1000, "Cancelling…")

    def select(self, index: int) -> None:
        """Show candidate ``index`` in place (or its live preview during a run)."""
        session = self._model.session
        if session is None or session.run is None:
            return
        session.select(index)
        cand = session.run.candidate(index)
        if cand is not None:
            self._canvas.show_preview(rgb_to_qimage(cand.patch), cand.box)
        elif self._service.busy and self._pending is None and self._shown is not None:
            self._pending = self._shown  # redraw the latest frame with the new selection
            self._frame_timer.start(0)

    def apply(self, index: int | None = None) -> bool:
        """Commit a candidate to the picture as one undo step (which also clears the mask)."""
        session = self._model.session
        run = self.run
        if session is None or run is None or not run.applicable:
            return False
        try:
            edit = session.apply(index)
        except SessionError as exc:
            show_error(self._parent, "Cannot apply", str(exc))
            return False
        if edit is None:
            show_info(self._parent, "Nothing to apply", "This candidate is identical to the picture.")
            return False
        self._canvas.setFocus()
        self.message.emit(f"Applied “{edit.prompt or '(no prompt)'}” (seed {edit.seed}). Ctrl+Z undoes it.")
        self.applied.emit()
        return True

    def discard(self) -> None:
        session = self._model.session
        if self._service.busy:
            self.cancel()
            return
        if session is not None and session.run is not None:
            session.discard()
            self.message.emit(
                "Candidates discarded; the picture is unchanged (Ctrl+Z brings back an applied one)."
            )

    def shutdown(self) -> None:
        """Stop any run and ask the model thread to end (the window is closing); never blocks."""
        self._frame_timer.stop()
        self._service.shutdown()

    # -- drawing the session's run ----------------------------------------------------------------

    def _on_run_changed(self) -> None:
        session = self._model.session
        run = self.run
        self._strip.show_run(run, stale=bool(session and session.stale))
        if run is None:
            self._pending = self._shown = None
            self._frame_timer.stop()
            self._canvas.clear_preview()
            if not self._service.busy:
                self._panel.show_progress(0.0, " ")
            return
        cand = run.selected_candidate
        if cand is not None and not run.running:
            self._canvas.show_preview(rgb_to_qimage(cand.patch), cand.box)
        if run.box is not None and self._context is None:
            inner = run.box.clipped(run.request.image.shape[1], run.request.image.shape[0])
            self._context = rgb_to_qimage(run.request.image[inner.slices])
        if not run.running:
            for c in run.candidates:
                self._strip.set_thumbnail(c.index, self._thumbnail(run, rgb_to_qimage(c.patch), c.box))

    def _on_session_replaced(self) -> None:
        if self._service.busy:
            self._service.cancel()
        self._context = None
        self._on_run_changed()

    # -- the run's events ------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        """One place where the run's events arrive, dispatched by type."""
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _feed(self, event: Event) -> None:
        session = self._model.session
        if session is not None and session.run is not None and session.run.running:
            session.handle(event)

    def _on_started(self, event: Started) -> None:
        self._context = None
        self._clock.stages(event.stages, event.steps)
        self._feed(event)
        if event.prompt_truncated:
            self.message.emit("The prompt is longer than the model reads; its end was ignored.")

    def _on_preview(self, event: Preview) -> None:
        run = self.run
        if run is None or not run.running or self._service.cancelling:
            return
        stage, step, total = event.stage, event.step, event.total
        now = time.perf_counter()
        self._clock.step(stage, step, now)
        text = self._clock.describe(stage, step, total, now)
        count = run.request.candidates
        if len(event.images) < count:  # candidates made in turn: say whose step this is
            text = f"Candidate {event.first + 1} of {count} · {text}"
        self._panel.show_progress(self._clock.fraction(stage, step), text)
        self._pending = event
        if not self._frame_timer.isActive():
            wait = MIN_FRAME_INTERVAL_MS - (now - self._last_frame) * 1000
            self._frame_timer.start(max(0, round(wait)))

    def _draw_pending(self) -> None:
        event, run = self._pending, self.run
        self._pending = None
        if event is None or run is None or not run.running or self._service.cancelling:
            return
        self._last_frame = time.perf_counter()
        self._shown = event
        # Candidates made in turn each send their own previews (``first`` says whose).
        images = {event.first + i: rgba_to_qimage(image) for i, image in enumerate(event.images)}
        if run.selected in images and run.candidate(run.selected) is None:
            self._canvas.show_preview(images[run.selected], event.box)
        for k, image in images.items():
            if run.candidate(k) is None:
                self._strip.set_thumbnail(k, self._thumbnail(run, image))
        self.frameDrawn.emit()

    def _on_candidate(self, cand: Candidate) -> None:
        self._feed(cand)
        run = self.run
        if run is not None:
            picture = rgb_to_qimage(cand.patch)
            self._strip.set_thumbnail(cand.index, self._thumbnail(run, picture, cand.box))
            if cand.index == run.selected:  # done before the others (candidates made in turn)
                self._canvas.show_preview(picture, cand.box)

    def _on_finished(self, event: Finished) -> None:
        self._end_frames()
        self._feed(event)
        self._clock.finish(time.perf_counter())
        self._panel.show_progress(
            1.0, f"Done in {event.seconds:.1f} s · {len(event.candidates)} candidate(s)"
        )
        self.message.emit("Pick a candidate and Apply it, or Discard them all.")

    def _on_failed(self, event: Failed) -> None:
        self._end_frames()
        session = self._model.session
        if session is not None:
            session.fail(event.message)
        self._panel.show_progress(0.0, "Failed; the picture was not changed.")
        show_error(self._parent, "Generation failed", f"{event.message}\n\nThe picture was not changed.")

    def _on_cancelled(self, event: Cancelled) -> None:
        self._end_frames()
        self._feed(event)
        kept = len(event.candidates)
        self._panel.show_progress(
            0.0, "Cancelled" + (f" · {kept} finished candidate(s) kept" if kept else "")
        )
        self.message.emit("Generation cancelled; the picture is unchanged.")

    def _end_frames(self) -> None:
        self._frame_timer.stop()
        self._pending = self._shown = None

    def _on_busy(self, busy: bool) -> None:
        self._panel.set_running(busy)
        self.runningChanged.emit(busy)

    # -- helpers --------------------------------------------------------------------------------

    def _thumbnail(self, run: Run, image: QImage, patch_box: Box | None = None) -> QPixmap:
        """The region box at thumbnail size: original context with ``image`` drawn over it.

        ``patch_box``: ``image`` is a final candidate's patch covering that box;
        otherwise a preview covering the whole (possibly overhanging) region box.
        """
        pixmap = QPixmap(THUMB, THUMB)
        pixmap.fill(QColor(29, 31, 35))
        box = run.box
        if box is None:
            return pixmap
        height, width = run.request.image.shape[:2]
        scale = THUMB / max(box.width, box.height)  # outpainting's region need not be square

        def rect(b: Box) -> QRectF:
            return QRectF(
                (b.left - box.left) * scale, (b.top - box.top) * scale, b.width * scale, b.height * scale
            )

        context = rect(box.clipped(width, height))
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        if self._context is not None:
            painter.drawImage(context, self._context)
        if patch_box is not None:
            painter.drawImage(rect(patch_box), image)
        else:
            painter.setClipRect(context)
            painter.drawImage(QRectF(0, 0, THUMB, THUMB), image)
        painter.end()
        return pixmap
