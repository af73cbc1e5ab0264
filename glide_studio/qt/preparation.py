"""Keeps the model thread one step ahead of Generate.

While the user paints and types, the model thread is idle. Half a second
after the prompt or the settings last changed (and once the models are
loaded, or a run ended), it encodes the prompt and runs each model once at
the coming run's batch size (``Inpainter.prepare``), so that Generate's first
preview waits only for its own first step. A run cancels a preparation still
going.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer

from ..core.generation.request import RequestError
from .panels.prompt_panel import PromptPanel
from .worker import InpaintService

__all__ = ["RunPreparation"]

DELAY_MS = 500


class RunPreparation(QObject):
    def __init__(self, *, service: InpaintService, panel: PromptPanel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._service, self._panel = service, panel
        self._sent: dict[str, object] | None = None
        self._timer = QTimer(self, singleShot=True, interval=DELAY_MS)
        self._timer.timeout.connect(self.prepare_now)
        panel.prompt.textChanged.connect(self._timer.start)
        panel.settingsChanged.connect(self._timer.start)
        service.engineReady.connect(self._on_engine_ready)
        service.busyChanged.connect(self._on_busy)  # what changed during a run, once it ends

    def _on_engine_ready(self, *_: object) -> None:
        self._sent = None  # a new engine knows nothing yet
        self._timer.start()

    def _on_busy(self, busy: bool) -> None:
        if not busy:
            self._timer.start()

    def settings(self) -> dict[str, object] | None:
        """What a run started now would prepare for; None while the settings are invalid."""
        try:
            values = self._panel.request_settings()
        except RequestError:
            return None
        keys = ("candidates", "guidance_scale", "clip_guidance", "use_upsampler")
        return {"prompt": self._panel.prompt.toPlainText().strip(), **{k: values[k] for k in keys}}

    def prepare_now(self) -> bool:
        """Queue the preparation unless it was queued already for the same settings."""
        engine = self._service.engine
        settings = self.settings()
        if engine is None or engine.remote or settings is None or settings == self._sent:
            return False
        if not self._service.prepare(**settings):
            return False
        self._sent = settings
        return True
