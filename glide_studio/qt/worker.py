"""The model thread: loads the engine once, runs requests, reports with typed signals.

Widgets never touch the model. ``InpaintService`` (GUI thread) owns a QThread
on which a ``GenerationWorker`` lives; requests go over as queued calls and
events come back as queued signals. Each run gets its own cancel token: the
engine checks it between the model's blocks, so a run stops inside a slow
step, and the worker checks it between events. Shutting down never blocks the
GUI thread: it cancels, asks the thread to end, and ``stopped`` follows.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from PySide6.QtCore import QObject, QThread, Signal, Slot

from ..core.generation.cancel import CancelToken, RunCancelled
from ..core.generation.events import Cancelled, Candidate, Failed, Finished, Preview, Started
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
    notice: str = ""
    """What the user must be told about this engine (e.g. no upsampler); ``Engine.notice``."""
    remote: bool = False
    """The models run on a server (``RemoteEngine``)."""
    text2im: bool = False
    """The released text-to-image models are loaded (a whole square is drawn by them)."""
    clip: bool = False
    """The noised CLIP encoders are loaded (CLIP guidance is possible)."""

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
            notice=str(getattr(engine, "notice", "") or ""),
            remote=hasattr(engine, "url"),
            text2im=getattr(inpainter, "text2im", None) is not None,
            clip=getattr(inpainter, "clip", None) is not None,
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
    """Lives on the model thread. Every slot runs there; every signal is queued to the GUI.

    Every run ends with exactly one of ``finished``, ``cancelled`` or ``failed``,
    whatever happens: a failed load, an engine that raises before its first
    event, a pipeline that stops without a final event.
    """

    engineReady = Signal(object)
    """EngineInfo, once the models are loaded."""
    engineFailed = Signal(str)
    started = Signal(object)
    """core ``Started``: stages, steps per stage, seeds and the region box."""
    preview = Signal(str, int, int, object)
    """stage, step (1-based), steps in the stage, and the core ``Preview`` (box + RGBA images)."""
    candidate = Signal(object)
    """core ``Candidate`` (the patch of its box)."""
    finished = Signal(object)
    """core ``Finished`` with all candidates."""
    failed = Signal(str)
    cancelled = Signal(object)
    """core ``Cancelled`` with the candidates that were complete."""
    prepared = Signal(object)
    """Seconds of each stage's first step at the coming run's batch size (``prepare``)."""

    def __init__(self, factory: EngineFactory, threads: int) -> None:
        super().__init__()
        self._factory = factory
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

    @Slot(object, object)
    def prepare(self, settings: dict[str, Any], token: CancelToken) -> None:
        """Encode the prompt and run each model once at the coming run's batch size while
        the user is still painting or typing (``Inpainter.prepare``), so that Generate's
        first preview does not wait for it. Stops within one model block when a run is
        queued; a failure here is only logged (the run itself reports what is wrong)."""
        prepare = getattr(getattr(self._engine, "inpainter", None), "prepare", None)
        if prepare is None or token.cancelled:
            return
        try:
            step_seconds = prepare(**settings, cancel=token)
        except RunCancelled:
            return
        except Exception:
            log.exception("preparing for a run failed")
            return
        if step_seconds:
            self.prepared.emit(dict(step_seconds))

    @Slot()
    def reload(self) -> None:
        """Forget the loaded engine and load again (after weights were downloaded)."""
        self._engine = None
        self.load()

    @Slot(object, object, bool)
    def generate(self, request: EditRequest, token: CancelToken, outpaint: bool = False) -> None:
        kind, payload = "failed", "The run ended without a result."
        events = None
        try:
            self.load()
            if self._engine is None:
                kind, payload = "failed", "The models could not be loaded, so nothing was generated."
            else:
                events = _start(self._engine.inpainter, request, token, outpaint=outpaint)
                kind, payload = self._stream(events, token)
        except Exception as exc:
            log.exception("generation failed")
            kind, payload = "failed", describe_failure(exc)
        finally:
            if events is not None:
                events.close()
            if kind == "finished":
                self.finished.emit(payload)
            elif kind == "cancelled":
                self.cancelled.emit(payload)
            else:
                self.failed.emit(str(payload))

    def _stream(self, events: Any, token: CancelToken) -> tuple[str, Any]:
        done: list[Candidate] = []
        for event in events:
            if isinstance(event, Finished):
                return "finished", event
            if isinstance(event, Cancelled):
                return "cancelled", event
            if isinstance(event, Failed):
                return "failed", event.message
            if token.cancelled:
                return "cancelled", Cancelled(candidates=tuple(done), seconds=0.0)
            if isinstance(event, Preview):
                self.preview.emit(event.stage, event.step, event.total, event)
            elif isinstance(event, Started):
                self.started.emit(event)
            elif isinstance(event, Candidate):
                done.append(event)
                self.candidate.emit(event)
        if token.cancelled:
            return "cancelled", Cancelled(candidates=tuple(done), seconds=0.0)
        return "failed", "The run ended without a result."


def _start(inpainter: Any, request: EditRequest, token: CancelToken, *, outpaint: bool = False) -> Any:
    """The run's event stream, with the cancel token when the engine can stop inside a step.

    ``outpaint``: fill the mask (a canvas's new area) square by square."""
    if outpaint:
        from ..core.pipeline.outpaint import outpaint as fill_squares

        return fill_squares(inpainter, request, cancel=token)
    try:
        parameters = inspect.signature(inpainter.run).parameters
    except (TypeError, ValueError):
        parameters = {}
    if "cancel" in parameters:
        return inpainter.run(request, cancel=token)
    return inpainter.run(request)


class InpaintService(QObject):
    """GUI-thread handle on the worker: start, generate, cancel, shut down.

    Re-exposes the worker's signals (connect to these). ``busy`` is True from
    ``generate`` until the run's one final signal (finished, failed or
    cancelled) arrives.
    """

    engineReady = Signal(object)
    engineFailed = Signal(str)
    started = Signal(object)
    preview = Signal(str, int, int, object)
    candidate = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal(object)
    busyChanged = Signal(bool)
    prepared = Signal(object)
    stopped = Signal()
    """The model thread has ended (after ``shutdown``)."""

    _requestLoad = Signal()
    _requestReload = Signal()
    _requestRun = Signal(object, object, bool)
    _requestPrepare = Signal(object, object)

    def __init__(self, factory: EngineFactory, *, threads: int | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._token: CancelToken | None = None
        self._prepare_token: CancelToken | None = None
        self._thread = QThread()
        self._thread.setObjectName("glide-model")
        self._worker = GenerationWorker(factory, threads or worker_threads())
        self._worker.moveToThread(self._thread)
        self._thread.finished.connect(self._worker.deleteLater)
        self._thread.finished.connect(self.stopped)
        self.engine: EngineInfo | None = None
        self._wire()

    def _wire(self) -> None:
        w = self._worker
        self._requestLoad.connect(w.load)
        self._requestReload.connect(w.reload)
        self._requestRun.connect(w.generate)
        self._requestPrepare.connect(w.prepare)
        w.engineReady.connect(self._on_engine_ready)
        w.engineFailed.connect(self.engineFailed)
        w.started.connect(self.started)
        w.preview.connect(self.preview)
        w.candidate.connect(self.candidate)
        w.prepared.connect(self.prepared)
        for source, target in (
            (w.finished, self.finished),
            (w.failed, self.failed),
            (w.cancelled, self.cancelled),
        ):
            source.connect(self._set_idle)
            source.connect(target)

    @property
    def thread(self) -> QThread:
        return self._thread

    @property
    def busy(self) -> bool:
        return self._token is not None

    def start(self) -> None:
        """Start the thread and load the models there (the window stays usable meanwhile)."""
        if not self._thread.isRunning():
            self._thread.start()
        self._requestLoad.emit()

    def reload(self) -> None:
        self.engine = None
        self._stop_preparing()
        self._requestReload.emit()

    def generate(self, request: EditRequest, *, outpaint: bool = False) -> bool:
        """Queue a run; False (and nothing queued) while another run is still going."""
        if self.busy or not self._thread.isRunning():
            return False
        self._stop_preparing()
        self._token = CancelToken()
        self.busyChanged.emit(True)
        self._requestRun.emit(request, self._token, outpaint)
        return True

    def prepare(self, **settings: Any) -> bool:
        """Queue ``GenerationWorker.prepare`` for a run with these settings (``prompt``,
        ``candidates``, ``guidance_scale``, ``clip_guidance``, ``use_upsampler``), replacing
        any preparation not done yet; False while the models are not loaded or a run is going."""
        if self.busy or self.engine is None or not self._thread.isRunning():
            return False
        self._stop_preparing()
        self._prepare_token = CancelToken()
        self._requestPrepare.emit(dict(settings), self._prepare_token)
        return True

    def _stop_preparing(self) -> None:
        if self._prepare_token is not None:
            self._prepare_token.cancel()
            self._prepare_token = None

    def cancel(self) -> None:
        """Ask the run to stop (inside the current step where the engine allows); ``cancelled`` follows."""
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

    def _on_engine_ready(self, info: EngineInfo) -> None:
        self.engine = info
        self.engineReady.emit(info)

    def _set_idle(self, *_: object) -> None:
        if self._token is not None:
            self._token = None
            self.busyChanged.emit(False)
