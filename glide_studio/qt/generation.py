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

import numpy as np
from PySide6.QtCore import QObject, QRectF, QSize, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QWidget

from ..core.editing.run import Run
from ..core.editing.session import SessionError
from ..core.generation.events import Cancelled, Candidate, Event, Failed, Finished, Preview, Queued, Started
from ..core.generation.progress import ProgressClock
from ..core.generation.request import OUTPAINT, EditRequest, RequestError
from ..core.imaging.region import Box
from .canvas import CanvasView
from .convert import checkerboard, rgb_to_qimage, rgba_to_qimage
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
        self._squares: QImage | None = None
        """Outpainting: the last frames of the finished squares, over the whole canvas."""
        self._square: tuple[QImage, Box] | None = None
        """Outpainting: the square in progress and its latest frame."""
        """The original pixels of the run's region box (clipped to the image), for thumbnails."""
        self._clock = ProgressClock()
        self.live_run: Run | None = None
        """The current run when it is a live update (live mode; ``start_request``)."""
        self.before_apply: Callable[[Run], bool] | None = None
        """Live mode may take over Apply of a live result (True: it did; ``qt.live``)."""
        self._generate_when_idle = False
        self._frame_timer = QTimer(self, singleShot=True)
        self._frame_timer.timeout.connect(self._draw_pending)
        self._handlers: dict[type, Callable[[Any], None]] = {
            Started: self._on_started,
            Preview: self._on_preview,
            Candidate: self._on_candidate,
            Finished: self._on_finished,
            Cancelled: self._on_cancelled,
            Failed: self._on_failed,
            Queued: self._on_queued,
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
        if info is None and not self._service.busy:  # the window already said why Generate is off
            self.message.emit("No model is ready yet: wait for it to load, or choose one in the Models menu.")
            return False
        try:
            settings = self._panel.settings()
        except RequestError as exc:
            show_error(self._parent, "Cannot generate", str(exc))
            return False
        live = self.live_run is not None and self.live_run is session.run
        if live and self._service.busy:  # Generate outranks a live update: stop it, then run
            self._generate_when_idle = True
            self._service.cancel()
            return True
        check = session.check_run(settings, info, busy=self._service.busy)
        if check.refusal:
            self.message.emit(check.refusal)
            return False
        if check.files_group:
            self.needFiles.emit(check.files_group, check.files_why)
            return False
        if (
            check.question
            and not live
            and not ask_yes_no(self._parent, "Generate again", check.question, default_yes=False)
        ):
            return False
        shown_seed = self._panel.seed.value()
        try:
            request = session.request_for(replace(settings, seed=self._panel.next_seed()))
            session.start_run(request, model=info.description if info is not None else "")
        except (RequestError, SessionError) as exc:
            self._panel.seed.setValue(shown_seed)  # a run that never started uses up no seed
            show_error(self._parent, "Cannot generate", str(exc))
            return False
        self.live_run = None
        session.set_prompt(settings.prompt)
        for warning in session.run_warnings(request, info):
            self.message.emit(warning)
        self._pending = self._shown = None
        self._canvas.clear_preview()
        self._clock.begin()
        self._panel.show_progress(0.0, "Starting…")
        if not self._service.generate(request):
            self._panel.seed.setValue(shown_seed)
            session.fail("The model thread is not running.")
            return False
        self._canvas.setFocus()
        return True

    def start_request(self, request: EditRequest, *, live: bool) -> bool:
        """Start a run for a request made elsewhere (live mode) without questions or dialogs;
        False when it cannot start now. A live update keeps the picture shown until its own
        previews arrive (no flash back to the original between updates)."""
        session = self._model.session
        info = self._service.info
        if session is None or info is None or self._service.busy:
            return False
        try:
            run = session.start_run(request, model=info.description if info is not None else "")
        except SessionError:
            return False
        self.live_run = run if live else None
        self._pending = self._shown = None
        if not live:
            self._canvas.clear_preview()
        self._clock.begin()
        if not self._service.generate(request):
            session.fail("The model thread is not running.")
            return False
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
            self._canvas.show_preview(self._candidate_image(cand), cand.box)
        elif self._service.busy and self._pending is None and self._shown is not None:
            self._pending = self._shown  # redraw the latest frame with the new selection
            self._frame_timer.start(0)

    def apply(self, index: int | None = None) -> bool:
        """Commit a candidate to the picture as one undo step (which also clears the mask)."""
        session = self._model.session
        run = self.run
        if session is None or run is None or not run.applicable:
            return False
        if self.before_apply is not None and self.before_apply(run):
            return True
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
        if run is not None and session is not None and session.stale and not run.running:
            run = None  # a later run's candidates are hidden while an earlier picture is shown
        self._strip.show_run(run, stale=False)
        if run is None:
            self._pending = self._shown = None
            self._frame_timer.stop()
            self._canvas.clear_preview()
            if not self._service.busy:
                self._panel.show_progress(0.0, " ")
            return
        cand = run.selected_candidate
        if cand is not None and not run.running:
            self._canvas.show_preview(self._candidate_image(cand), cand.box)
        if run.box is not None and self._context is None:
            self._context = self._region_image(run)
        if not run.running:
            for c in run.candidates:
                self._strip.set_thumbnail(c.index, self._thumbnail(run, self._candidate_image(c), c.box))

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
        self._squares = self._square = None
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
            image, box = self._outpainted_so_far(run, images[run.selected], event.box)
            self._canvas.show_preview(image, box)
        for k, image in images.items():
            if run.candidate(k) is None:
                self._strip.set_thumbnail(k, self._thumbnail(run, image))
        self.frameDrawn.emit()

    def _on_candidate(self, cand: Candidate) -> None:
        self._feed(cand)
        run = self.run
        if run is not None:
            picture = self._candidate_image(cand)
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
        if self.live_run is not None and self.live_run is self.run:
            self.message.emit("Live result shown: Apply keeps it; keep painting to change it.")
        else:
            self.message.emit("Pick a candidate and Apply it, or Discard them all.")

    def _on_queued(self, event: Queued) -> None:
        """A server's run waits for a free model: say where it stands."""
        self._panel.show_progress(0.0, f"{ordinal(event.position)} in the server's queue…")

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
        if not busy and self._generate_when_idle:  # after the cancelled live update's last event
            self._generate_when_idle = False
            QTimer.singleShot(0, self.generate)

    # -- helpers --------------------------------------------------------------------------------

    def _outpainted_so_far(self, run: Run, frame: QImage, box: Box) -> tuple[QImage, Box]:
        """Outpainting fills square after square: the squares already finished stay shown under
        the one in progress (one picture over the whole canvas), never the placeholder again."""
        if run.request.kind != OUTPAINT:
            return frame, box
        height, width = run.request.image.shape[:2]
        if self._squares is None or self._squares.size() != QSize(width, height):
            self._squares = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
            self._squares.fill(QColor(0, 0, 0, 0))
            self._square = None
        if self._square is not None and self._square[1] != box:  # the last square is done: keep it
            _draw_over(self._squares, *self._square)
        self._square = (frame, box)
        shown = self._squares.copy()
        _draw_over(shown, frame, box)
        return shown, Box(0, 0, width, height)

    def _candidate_image(self, cand: Candidate) -> QImage:
        """Exactly what Apply would put into the picture: opaque where generated over transparency."""
        session = self._model.session
        if session is None:
            return rgb_to_qimage(cand.patch)
        rgb, alpha = session.candidate_pixels(cand)
        return rgb_to_qimage(rgb) if alpha is None else rgba_to_qimage(np.dstack([rgb, alpha]))

    def _region_image(self, run: Run) -> QImage | None:
        """The run's region of the picture (with its transparency) for the thumbnails."""
        assert run.box is not None
        inner = run.box.clipped(run.request.image.shape[1], run.request.image.shape[0])
        doc = self._model.document
        rgb = run.request.image[inner.slices]
        if doc is not None and doc.alpha is not None and doc.alpha.shape == run.request.image.shape[:2]:
            return rgba_to_qimage(np.dstack([rgb, doc.alpha[inner.slices]]))
        return rgb_to_qimage(rgb)

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
        doc = self._model.document
        if doc is not None and doc.alpha is not None:
            checker = QPainter(pixmap)
            checker.fillRect(pixmap.rect(), QBrush(checkerboard()))  # transparency reads as such
            checker.end()
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


def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st…"""
    tens = number % 100
    suffix = "th" if 11 <= tens <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _draw_over(target: QImage, frame: QImage, box: Box) -> None:
    painter = QPainter(target)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    painter.drawImage(QRectF(box.left, box.top, box.width, box.height), frame)
    painter.end()
