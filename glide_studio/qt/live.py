"""Live mode in the window: the edit follows the brush.

Wires the core rules (``core.generation.live.LiveScheduler``) to the session's
changes, a quiet-time timer, the model thread and the panel's live box. Each
mask, sketch or prompt change restarts the timer and cancels a live update still
running; when the timer fires, an update with the live preset and the current
seed starts through ``GenerationController.start_request`` and its result is
shown in place like any run's. The panel shows the time from a stroke's end to
its picture and warns when that is too slow to follow the brush.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from ..core.editing.run import Run
from ..core.generation.events import Cancelled, Event, Failed, Finished
from ..core.generation.live import (
    APPLY_RENDER,
    LiveOptions,
    LiveScheduler,
    live_blocked,
    live_settings,
    render_request,
    slow_warning,
)
from ..core.generation.request import RequestError
from .generation import GenerationController
from .panels.prompt_panel import PromptPanel
from .session_model import SessionModel
from .worker import BackendService

__all__ = ["LiveController"]


class LiveController(QObject):
    updated = Signal(float)
    """A current live result is on screen; seconds from the change that caused it (tests, diagnostics)."""

    def __init__(
        self,
        *,
        service: BackendService,
        model: SessionModel,
        panel: PromptPanel,
        generation: GenerationController,
        options: LiveOptions | None = None,
        clock: Callable[[], float] = time.perf_counter,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._service, self._model, self._panel, self._generation = service, model, panel, generation
        options = options or LiveOptions()
        self._options, self._clock = options, clock
        self.scheduler = LiveScheduler(debounce_s=options.debounce_s)
        self._revision: int | None = None
        """The revision of the live update running now."""
        self._render: Run | None = None
        """A run started by Apply (render first) that is applied when it finishes."""
        self._timer = QTimer(self, singleShot=True)
        self._timer.timeout.connect(self._try_start)
        box = panel.live
        box.switch.setChecked(options.enabled)
        box.toggled.connect(self._toggled)
        for signal in (
            model.maskChanged,
            model.sketchChanged,
            panel.prompt.textChanged,
            panel.settingsChanged,
        ):
            signal.connect(self.changed)
        model.sessionReplaced.connect(self._on_session_replaced)
        model.runChanged.connect(self._schedule)  # e.g. candidates discarded: a waiting change may go
        service.event.connect(self._on_event)
        service.busyChanged.connect(lambda busy: None if busy else self._schedule())
        service.backendReady.connect(lambda _info: self._schedule())
        generation.before_apply = self._before_apply

    @property
    def enabled(self) -> bool:
        return self._panel.live.enabled

    def set_enabled(self, on: bool) -> None:
        self._panel.live.switch.setChecked(on)

    def toggle(self) -> None:
        self.set_enabled(not self.enabled)

    # -- changes ------------------------------------------------------------------------------

    def changed(self, *_: object) -> None:
        """Something the result depends on changed: cancel the outdated update, wait for quiet."""
        if not self.enabled:
            return
        if self.scheduler.change(self._clock()) and self._live_running():
            self._service.cancel()
        self._schedule()

    def _toggled(self, on: bool) -> None:
        if on:
            self.changed()
            return
        self._timer.stop()
        if self._live_running():
            self._service.cancel()
        self._panel.live.show_status("")

    def _on_session_replaced(self) -> None:
        self._timer.stop()
        self.scheduler.forget()
        self._render = None

    # -- starting ----------------------------------------------------------------------------

    def _schedule(self) -> None:
        wait = self.scheduler.wait(self._clock()) if self.enabled else None
        if wait is not None:
            self._timer.start(round(wait * 1000))

    def _blocked(self) -> str:
        session = self._model.session
        run = session.run if session is not None else None
        own = run is not None and run is self._generation.live_run
        return live_blocked(
            enabled=self.enabled,
            ready=self._service.info is not None,
            mask_empty=session is None or session.document.mask_box() is None,
            other_run=self._service.busy and not own,
            pending_candidates=0 if own or session is None else session.pending_candidates,
        )

    def _try_start(self) -> None:
        if not self.enabled or self._service.busy:
            return  # the end of the running update schedules again
        reason = self._blocked()
        if reason:
            self._panel.live.show_status(reason)
            return
        session = self._model.session
        assert session is not None
        try:
            settings = live_settings(self._panel.settings())
            request = session.request_for(settings)
        except RequestError as exc:
            self._panel.live.show_status(f"Live: {exc}")
            self.scheduler.forget()
            return
        check = session.check_run(settings, self._service.info)
        if check.blocked:
            self._panel.live.show_status(f"Live: {check.refusal or check.files_why}")
            self.scheduler.forget()
            return
        revision = self.scheduler.start(self._clock())
        if revision is None:
            self._schedule()
            return
        if not self._generation.start_request(request, live=True):
            self.scheduler.stopped(revision)
            return
        self._revision = revision

    def _live_running(self) -> bool:
        return self._service.busy and self._revision is not None

    # -- results -----------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        """Runs after the generation controller drew the event (connected after it)."""
        if self._render is not None and isinstance(event, Finished | Cancelled | Failed):
            render, self._render = self._render, None
            if isinstance(event, Finished) and render is self._generation.run:
                QTimer.singleShot(0, self._generation.apply)
            return
        if self._revision is None or not isinstance(event, Finished | Cancelled | Failed):
            return
        revision, self._revision = self._revision, None
        if isinstance(event, Finished):
            if self.scheduler.finished(revision, self._clock(), seconds=event.seconds):
                self._show_time()
        else:
            self.scheduler.stopped(revision)
            if isinstance(event, Failed) or revision == self.scheduler.revision:
                # Failed, or stopped by the user (Esc, Generate), not by a newer change: no
                # retry now; the next change tries again.
                self.scheduler.forget()
        self._schedule()

    def _show_time(self) -> None:
        latency = self.scheduler.latency
        if latency is None:
            return
        model = self.scheduler.compute[-1] if self.scheduler.compute else None
        text = f"Live update: {latency:.2f} s from stroke to picture"
        if model is not None:
            text += f" (model {model:.2f} s)"
        warning = slow_warning(latency, limit=self._options.warn_s)
        self._panel.live.show_status(warning or text, warning=bool(warning))
        self.updated.emit(self.scheduler.latencies[-1])

    def _before_apply(self, run: Run) -> bool:
        """Apply of a live result in "render first" mode: run the chosen preset with the same seed
        and region, and apply that when it finishes (True: Apply was taken over)."""
        if run is not self._generation.live_run or self._panel.live.apply_mode != APPLY_RENDER:
            return False
        try:
            request = render_request(run.request, self._panel.settings())
        except RequestError as exc:
            self._panel.live.show_status(f"Live: {exc}")
            return True
        if not self._generation.start_request(request, live=False):
            return True
        self._render = self._generation.run
        self._panel.live.show_status(
            "Rendering the chosen quality with the live seed; it is applied when done."
        )
        return True
