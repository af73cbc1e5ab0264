"""The model thread: loads the engine once, runs requests, reports with typed signals.

Widgets never touch the model. ``InpaintService`` (GUI thread) owns a QThread
on which a ``GenerationWorker`` lives; requests go over as queued calls and
events come back as queued signals. Cancelling sets a flag that the worker
checks after every event, i.e. between denoising steps, and then closes the
pipeline's generator, which is all a run needs to stop.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from PySide6.QtCore import QObject, QThread, Signal, Slot

from ..core.generation.events import Candidate, Finished, Preview, Started
from ..core.generation.request import EditRequest, RequestError

__all__ = ["EngineInfo", "EngineLike", "GenerationWorker", "InpaintService", "describe_failure"]

log = logging.getLogger(__name__)


class EngineLike(Protocol):
    """What the window needs from ``core.runtime.engine.Engine`` (tests pass tiny stand-ins)."""

    inpainter: Any
    description: str
    device_label: str
    is_demo: bool
    missing: tuple


EngineFactory = Callable[[], EngineLike]


@dataclass(frozen=True)
class EngineInfo:
    """A plain copy of the engine's labels, safe to hand to the GUI thread."""

    description: str
    device_label: str
    is_demo: bool
    missing: tuple[str, ...]
    threads: int
    """Torch CPU threads the worker uses."""
    base_resolution: int = 64
    upsample_resolution: int | None = 256
    """None when no upsampler is loaded (the demo model, or its file is missing)."""
    sampling: dict[str, Any] = field(default_factory=dict)
    """Recommended settings for this model (sampler, steps, guidance_scale), if it has any."""

    @classmethod
    def of(cls, engine: EngineLike, threads: int) -> EngineInfo:
        missing = tuple(str(getattr(m, "name", m)) for m in (getattr(engine, "missing", ()) or ()))
        inpainter = getattr(engine, "inpainter", None)
        base = getattr(inpainter, "base", None)
        upsampler = getattr(inpainter, "upsampler", None)
        return cls(
            description=str(getattr(engine, "description", "model")),
            device_label=str(getattr(engine, "device_label", "")),
            is_demo=bool(getattr(engine, "is_demo", False)),
            missing=missing,
            threads=threads,
            base_resolution=int(getattr(base, "resolution", 64)),
            upsample_resolution=int(upsampler.resolution) if upsampler is not None else None,
            sampling=dict(getattr(engine, "sampling", None) or {}),
        )


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
    text = str(exc).strip() or "no details"
    return f"{type(exc).__name__}: {text}"


def worker_threads(cores: int | None = None) -> int:
    """Torch threads for the worker: every core.

    The interface thread only draws (previews are converted once and scaled by
    Qt), so it needs little CPU: with both cores busy in torch the longest gap
    between interface timer ticks stayed at 22–24 ms (tests/qt measure it), while
    a run on one core takes close to twice as long on an idle 2-core machine.
    """
    return max(1, cores or os.cpu_count() or 1)


class GenerationWorker(QObject):
    """Lives on the model thread. Every slot runs there; every signal is queued to the GUI."""

    engineReady = Signal(object)
    """EngineInfo, once the models are loaded."""
    engineFailed = Signal(str)
    started = Signal(object)
    """core ``Started``: stages, steps per stage, seeds and the region box."""
    preview = Signal(str, int, int, object)
    """stage, step (1-based), steps in the stage, and the core ``Preview`` (box + RGBA images)."""
    candidate = Signal(object)
    """core ``Candidate``."""
    finished = Signal(object)
    """core ``Finished`` with all candidates."""
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, factory: EngineFactory, cancel: threading.Event, threads: int) -> None:
        super().__init__()
        self._factory = factory
        self._cancel = cancel
        self._threads = threads
        self._engine: EngineLike | None = None

    @Slot()
    def load(self) -> None:
        """Load the models unless already loaded (called once at start and again on demand)."""
        if self._engine is not None:
            return
        import torch

        torch.set_num_threads(self._threads)  # per thread with OpenMP: the GUI thread keeps its own
        try:
            self._engine = self._factory()
        except Exception as exc:
            log.exception("loading the models failed")
            self.engineFailed.emit(describe_failure(exc))
            return
        self.engineReady.emit(EngineInfo.of(self._engine, self._threads))

    @Slot()
    def reload(self) -> None:
        """Forget the loaded engine and load again (after weights were downloaded)."""
        self._engine = None
        self.load()

    @Slot(object)
    def generate(self, request: EditRequest) -> None:
        self.load()
        if self._engine is None:
            self.failed.emit("The models could not be loaded, so nothing was generated.")
            return
        events = self._engine.inpainter.run(request)
        try:
            self._stream(events)
        except Exception as exc:
            log.exception("generation failed")
            self.failed.emit(describe_failure(exc))
        finally:
            events.close()

    def _stream(self, events: Any) -> None:
        for event in events:
            if self._cancel.is_set():
                self.cancelled.emit()
                return
            if isinstance(event, Preview):
                self.preview.emit(event.stage, event.step, event.total, event)
            elif isinstance(event, Started):
                self.started.emit(event)
            elif isinstance(event, Candidate):
                self.candidate.emit(event)
            elif isinstance(event, Finished):
                self.finished.emit(event)
                return
        if self._cancel.is_set():
            self.cancelled.emit()


class InpaintService(QObject):
    """GUI-thread handle on the worker: start, generate, cancel, shut down.

    Re-exposes the worker's signals (connect to these). ``busy`` is True from
    ``generate`` until finished, failed or cancelled arrives.
    """

    engineReady = Signal(object)
    engineFailed = Signal(str)
    started = Signal(object)
    preview = Signal(str, int, int, object)
    candidate = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    busyChanged = Signal(bool)

    _requestLoad = Signal()
    _requestReload = Signal()
    _requestRun = Signal(object)

    def __init__(self, factory: EngineFactory, *, threads: int | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._cancel = threading.Event()
        self._thread = QThread()
        self._thread.setObjectName("glide-model")
        self._worker = GenerationWorker(factory, self._cancel, threads or worker_threads())
        self._worker.moveToThread(self._thread)
        self._thread.finished.connect(self._worker.deleteLater)
        self._busy = False
        self.engine: EngineInfo | None = None
        self._wire()

    def _wire(self) -> None:
        w = self._worker
        self._requestLoad.connect(w.load)
        self._requestReload.connect(w.reload)
        self._requestRun.connect(w.generate)
        w.engineReady.connect(self._on_engine_ready)
        w.engineFailed.connect(self.engineFailed)
        w.started.connect(self.started)
        w.preview.connect(self.preview)
        w.candidate.connect(self.candidate)
        for source, target in ((w.finished, self.finished), (w.failed, self.failed)):
            source.connect(self._set_idle)
            source.connect(target)
        w.cancelled.connect(self._set_idle)
        w.cancelled.connect(self.cancelled)

    @property
    def thread(self) -> QThread:
        return self._thread

    @property
    def busy(self) -> bool:
        return self._busy

    def start(self) -> None:
        """Start the thread and load the models there (the window stays usable meanwhile)."""
        if not self._thread.isRunning():
            self._thread.start()
        self._requestLoad.emit()

    def reload(self) -> None:
        self.engine = None
        self._requestReload.emit()

    def generate(self, request: EditRequest) -> bool:
        """Queue a run; False (and nothing queued) while another run is still going."""
        if self._busy or not self._thread.isRunning():
            return False
        self._cancel.clear()
        self._set_busy(True)
        self._requestRun.emit(request)
        return True

    def cancel(self) -> None:
        """Ask the run to stop after the current step; ``cancelled`` follows."""
        if self._busy:
            self._cancel.set()

    @property
    def cancelling(self) -> bool:
        return self._busy and self._cancel.is_set()

    def shutdown(self, timeout_ms: int | None = None) -> bool:
        """Cancel any run, stop the thread and wait for it; True once it has finished."""
        self._cancel.set()
        if not self._thread.isRunning():
            return True
        self._thread.quit()
        started = time.perf_counter()
        done = self._thread.wait() if timeout_ms is None else self._thread.wait(timeout_ms)
        log.debug("model thread stopped in %.2f s", time.perf_counter() - started)
        return bool(done)

    def _on_engine_ready(self, info: EngineInfo) -> None:
        self.engine = info
        self.engineReady.emit(info)

    def _set_idle(self, *_: object) -> None:
        self._set_busy(False)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busyChanged.emit(busy)
