"""Keeps the model thread one step ahead of Generate.

While the user paints and types, the model thread is idle. Half a second
after the prompt or the settings last changed (and once the models are
loaded, or a run ended), it encodes the prompt and runs each model once at
the coming run's batch size (``Backend.prepare``), so that Generate's first
preview waits only for its own first step. A run cancels a preparation still
going.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer

from ..core.generation.backend import Preparation
from ..core.generation.live import live_settings
from ..core.generation.request import RequestError
from .panels.prompt_panel import PromptPanel
from .worker import BackendService

__all__ = ["RunPreparation"]

DELAY_MS = 500


class RunPreparation(QObject):
    def __init__(self, *, service: BackendService, panel: PromptPanel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._service, self._panel = service, panel
        self._sent: Preparation | None = None
        self._timer = QTimer(self, singleShot=True, interval=DELAY_MS)
        self._timer.timeout.connect(self.prepare_now)
        panel.prompt.textChanged.connect(self._timer.start)
        panel.settingsChanged.connect(self._timer.start)
        panel.live.toggled.connect(self._timer.start)
        service.backendReady.connect(self._on_backend_ready)
        service.busyChanged.connect(self._on_busy)  # what changed during a run, once it ends

    def _on_backend_ready(self, *_: object) -> None:
        self._sent = None  # a new backend knows nothing yet
        self._timer.start()

    def _on_busy(self, busy: bool) -> None:
        if not busy:
            self._timer.start()

    def preparation(self) -> Preparation | None:
        """What a run started now would prepare for; None while the settings are invalid."""
        try:
            settings = self._panel.settings()
        except RequestError:
            return None
        if self._panel.live.enabled:  # the runs to come are live updates: one candidate, few steps
            settings = live_settings(settings)
        return settings.preparation()

    def prepare_now(self) -> bool:
        """Queue the preparation unless it was queued already for the same settings."""
        preparation = self.preparation()
        if self._service.info is None or preparation is None or preparation == self._sent:
            return False
        if not self._service.prepare(preparation):
            return False
        self._sent = preparation
        return True
