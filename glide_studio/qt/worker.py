"""The model thread: opens the backend once, runs requests, reports the core's events.

Widgets never touch the models. ``BackendService`` (GUI thread) owns a QThread
on which a ``GenerationWorker`` lives; requests go over as queued calls and
the run's events come back through one queued signal, ``event``, carrying the
core's typed events (a failure as ``Failed``). Each run gets its own cancel
token: the backend checks it between the model's blocks, so a run stops inside
a slow step, and the worker checks it between events. Shutting down never
blocks the GUI thread: it cancels, asks the thread to end, and ``stopped``
follows.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator

from PySide6.QtCore import QObject, QThread, Signal, Slot

from ..core.generation.backend import Backend, BackendInfo, Preparation
from ..core.generation.cancel import CancelToken, RunCancelled
from ..core.generation.events import Cancelled, Candidate, Event, Failed, Finished
from ..core.generation.request import EditRequest, RequestError
from ..core.remote.client import RemoteError

__all__ = ["BackendFactory", "BackendService", "GenerationWorker", "describe_failure", "is_final"]

log = logging.getLogger(__name__)

BackendFactory = Callable[[], Backend]
"""Opens the backend (on the model thread); raises with a message for the user."""


def is_final(event: Event) -> bool:
    """Every run ends with exactly one of these."""
    return isinstance(event, Finished | Cancelled | Failed)


def describe_failure(exc: BaseException) -> str:
    """One message a user can act on, for anything a load or a run can raise."""
    import torch

    if isinstance(exc, torch.OutOfMemoryError | MemoryError):
        return (
            "The model ran out of memory. Try fewer candidates, turn off upsampling, "
            "or close other programs that use the GPU, then generate again."
        )
    if isinstance(exc, RequestError) or type(exc).__module__.startswith("glide_studio."):
        return str(exc)  # our own errors are written for the user already
    if isinstance(exc, OSError) and exc.strerror:  # a file or the network: say which and why
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror.lower()}"
    text = str(exc).strip() or "no details"
    return f"{type(exc).__name__}: {text}"


def worker_threads(cores: int | None = None) -> int:
    """Torch threads for the worker: every core.

    The interface thread only draws (previews are converted once and scaled by
    Qt), so it needs little CPU, while a run on one core of two takes close to
    twice as long (README, Performance).
    """
    return max(1, cores or os.cpu_count() or 1)


class GenerationWorker(QObject):
    """Lives on the model thread. Every slot runs there; every signal is queued to the GUI.

    Every run ends with exactly one final event (``Finished``, ``Cancelled`` or
    ``Failed``), whatever happens: a failed load, a backend that raises before
    its first event, a stream that stops without a final event.
    """

    backendReady = Signal(object)
    """BackendInfo, once the models are loaded."""
    backendFailed = Signal(str)
    event = Signal(object)
    """The run's core events, in order: Started, Preview…, Candidate…, then the final one."""
    prepared = Signal(object)
    """Seconds of each stage's first step at the coming run's batch size (``prepare``)."""

    def __init__(self, factory: BackendFactory, threads: int) -> None:
        super().__init__()
        self._factory = factory
        self._threads = threads
        self._backend: Backend | None = None

    @Slot()
    def load(self) -> None:
        """Open the backend unless already open (called once at start and again on demand)."""
        if self._backend is not None:
            return
        import torch

        torch.set_num_threads(self._threads)  # per thread with OpenMP: the GUI thread keeps its own
        try:
            self._backend = self._factory()
        except Exception as exc:
            log.exception("loading the models failed")
            self.backendFailed.emit(describe_failure(exc))
            return
        self.backendReady.emit(self._backend.info)

    @Slot(object, object)
    def prepare(self, preparation: Preparation, token: CancelToken) -> None:
        """Do a coming run's one-off work while the user is still painting or typing
        (``Backend.prepare``), so that Generate's first preview does not wait for it. Stops
        within one model block when a run is queued; a failure here is only logged (the run
        itself reports what is wrong)."""
        if self._backend is None or token.cancelled:
            return
        try:
            step_seconds = self._backend.prepare(preparation, cancel=token)
        except RunCancelled:
            return
        except Exception:
            log.exception("preparing for a run failed")
            return
        if step_seconds:
            self.prepared.emit(dict(step_seconds))

    @Slot()
    def reload(self) -> None:
        """Forget the open backend and open it again (after weights were downloaded)."""
        self._backend = None
        self.load()

    @Slot(object, object)
    def generate(self, request: EditRequest, token: CancelToken) -> None:
        final: Event = Failed(message="The run ended without a result.")
        events = None
        try:
            self.load()
            if self._backend is None:
                final = Failed(message="The models could not be loaded, so nothing was generated.")
            else:
                events = self._backend.run(request, cancel=token)
                final = self._stream(events, token)
        except RunCancelled:
            final = Cancelled(candidates=(), seconds=0.0)
        except Exception as exc:
            log.exception("generation failed")
            final = Failed(message=describe_failure(exc))
            if isinstance(exc, RemoteError) and exc.status is None:  # the server went away
                self._backend = None
                self.backendFailed.emit(describe_failure(exc))
        finally:
            if events is not None:
                events.close()
            self.event.emit(final)

    def _stream(self, events: Iterator[Event], token: CancelToken) -> Event:
        """Emit every event but the final one, which is returned."""
        done: list[Candidate] = []
        for event in events:
            if is_final(event):
                return event
            if token.cancelled:
                return Cancelled(candidates=tuple(done), seconds=0.0)
            if isinstance(event, Candidate):
                done.append(event)
            self.event.emit(event)
        if token.cancelled:
            return Cancelled(candidates=tuple(done), seconds=0.0)
        return Failed(message="The run ended without a result.")


class BackendService(QObject):
    """GUI-thread handle on the model thread: start, generate, prepare, cancel, shut down.

    ``event`` passes the worker's events through. ``busy`` is True from
    ``generate`` until the run's final event has been passed on.
    """

    backendReady = Signal(object)
    backendFailed = Signal(str)
    event = Signal(object)
    busyChanged = Signal(bool)
    prepared = Signal(object)
    stopped = Signal()
    """The model thread has ended (after ``shutdown``)."""

    _requestLoad = Signal()
    _requestReload = Signal()
    _requestRun = Signal(object, object)
    _requestPrepare = Signal(object, object)

    def __init__(self, factory: BackendFactory, *, threads: int | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._token: CancelToken | None = None
        self._prepare_token: CancelToken | None = None
        self._thread = QThread()
        self._thread.setObjectName("glide-model")
        self._worker = GenerationWorker(factory, threads or worker_threads())
        self._worker.moveToThread(self._thread)
        self._thread.finished.connect(self._worker.deleteLater)
        self._thread.finished.connect(self.stopped)
        self.info: BackendInfo | None = None
        """What the open backend runs, once it is open."""
        w = self._worker
        self._requestLoad.connect(w.load)
        self._requestReload.connect(w.reload)
        self._requestRun.connect(w.generate)
        self._requestPrepare.connect(w.prepare)
        w.backendReady.connect(self._on_ready)
        w.backendFailed.connect(self._on_failed)
        w.prepared.connect(self.prepared)
        w.event.connect(self._on_event)

    @property
    def thread(self) -> QThread:
        return self._thread

    @property
    def busy(self) -> bool:
        return self._token is not None

    def start(self) -> None:
        """Start the thread and open the backend there (the window stays usable meanwhile)."""
        if not self._thread.isRunning():
            self._thread.start()
        self._requestLoad.emit()

    def reload(self) -> None:
        self.info = None
        self._stop_preparing()
        self._requestReload.emit()

    def generate(self, request: EditRequest) -> bool:
        """Queue a run; False (and nothing queued) while another run is still going."""
        if self.busy or not self._thread.isRunning():
            return False
        self._stop_preparing()
        self._token = CancelToken()
        self.busyChanged.emit(True)
        self._requestRun.emit(request, self._token)
        return True

    def prepare(self, preparation: Preparation) -> bool:
        """Queue ``GenerationWorker.prepare``, replacing any preparation not done yet; False
        while the backend is not open or a run is going."""
        if self.busy or self.info is None or not self._thread.isRunning():
            return False
        self._stop_preparing()
        self._prepare_token = CancelToken()
        self._requestPrepare.emit(preparation, self._prepare_token)
        return True

    def _stop_preparing(self) -> None:
        if self._prepare_token is not None:
            self._prepare_token.cancel()
            self._prepare_token = None

    def cancel(self) -> None:
        """Ask the run to stop (inside the current step); its ``Cancelled`` event follows."""
        if self._token is not None:
            self._token.cancel()

    @property
    def cancelling(self) -> bool:
        return self._token is not None and self._token.cancelled

    def shutdown(self) -> None:
        """Cancel any run and ask the model thread to end; never blocks (``stopped`` follows)."""
        self._stop_preparing()
        self.cancel()
        if self._thread.isRunning():
            self._thread.quit()

    def wait_stopped(self, timeout_ms: int) -> bool:
        """Block up to ``timeout_ms`` for the model thread (tests and the last moment of exit)."""
        return not self._thread.isRunning() or bool(self._thread.wait(timeout_ms))

    def _on_ready(self, info: BackendInfo) -> None:
        self.info = info
        self.backendReady.emit(info)

    def _on_failed(self, message: str) -> None:
        self.info = None  # a server that went away: nothing runs until it is reached again
        self.backendFailed.emit(message)

    def _on_event(self, event: Event) -> None:
        if is_final(event) and self._token is not None:
            self._token = None  # idle before anyone hears of the end: a new run may start at once
            self.busyChanged.emit(False)
        self.event.emit(event)
