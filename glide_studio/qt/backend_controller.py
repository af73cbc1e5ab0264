"""Which models the window runs on, and getting them: the backend choice, loading, downloads.

The loader runs on the model thread and reads only a copy of the backend
choice taken on the GUI thread; everything else here runs on the GUI thread.
It is handed exactly what it works with (the service, the status bar, the
prompt panel, the canvas, the settings), never the window.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QWidget

from ..core.generation.backend import Backend, BackendInfo
from .backend_dialog import BackendDialog
from .canvas import CanvasView
from .dialogs import DownloadDialog, ask_yes_no, show_error, show_info
from .panels.prompt_panel import PromptPanel
from .settings import Settings
from .status import StatusBar
from .worker import BackendFactory, BackendService

__all__ = ["BackendController"]


class BackendController(QObject):
    waiting = Signal(str)
    """A slow server: "waiting for the server…" (emitted on the model thread, shown on the GUI's)."""

    def __init__(
        self,
        *,
        parent: QWidget,
        settings: Settings,
        local_factory: BackendFactory,
        store_locator: Callable[[], Any] | None,
        status: StatusBar,
        panel: PromptPanel,
        canvas: CanvasView,
        running: Callable[[], bool],
    ) -> None:
        super().__init__(parent)
        self._parent, self._settings = parent, settings
        self._local_factory = local_factory
        self._store_locator = store_locator
        self._status, self._panel, self._canvas = status, panel, canvas
        self._running = running
        self.choice = settings.backend()
        self.service: BackendService | None = None
        self.unreachable = False
        """The chosen server did not answer (Generate waits for Reconnect)."""
        self.waiting.connect(self._show_waiting)  # a method of this GUI-thread object: queued

    def attach(self, service: BackendService) -> None:
        """Listen to the service that runs ``open_backend`` on its thread."""
        self.service = service
        service.backendReady.connect(self.on_backend_ready)
        service.backendFailed.connect(self.on_backend_failed)
        self._status.reconnectRequested.connect(self.reload_models)
        self._panel.upsample.toggled.connect(lambda _on: self.update_model_side())
        self.update_model_side()

    def open_backend(self) -> Backend:
        """Runs on the model thread: the server's models, or this computer's."""
        choice = self.choice
        if choice.remote:
            from ..core.backends import open_backend

            return open_backend(server=choice.url, token=choice.token, on_wait=self.waiting.emit)
        return self._local_factory()

    # -- backend state ---------------------------------------------------------------------------

    def update_model_side(self) -> None:
        """The resolution the region is finally generated at, for the region square's label."""
        info = self.service.info if self.service is not None else None
        upsample = self._panel.upsample
        wanted = upsample.isChecked() and upsample.isEnabled()
        side = info.output_resolution(use_upsampler=wanted) if info is not None else (256 if wanted else 64)
        self._canvas.set_model_side(side)

    @Slot(str)
    def _show_waiting(self, text: str) -> None:
        self._status.showMessage(text[:1].upper() + text[1:], 15000)

    def on_backend_ready(self, info: BackendInfo) -> None:
        self.unreachable = False
        self._status.set_backend(info)
        panel = self._panel
        panel.set_upsampler_available(info.upsample_resolution)
        panel.upsample.setToolTip(
            f"Run the second stage: {info.base_resolution} px → {info.upsample_resolution} px, "
            "sharper detail, several times slower"
            if panel.upsample.isEnabled()
            else "The loaded model has no upsampler: results are generated at the base resolution"
        )
        if info.sampling is not None:
            panel.apply_recommended(info.sampling, label="Demo model" if info.is_demo else "Model's own")
        self.update_model_side()
        if info.is_demo:
            self._status.showMessage(
                "Running the built-in demo model, not GLIDE: download the weights for real edits.", 15000
            )

    def on_backend_failed(self, message: str) -> None:
        """Say why, and offer the download (the usual cure: missing or damaged weights); for a
        server, weights here would not help: say it cannot be reached and offer Reconnect."""
        if self.choice.remote:
            self.unreachable = True
            self._status.set_server_unreachable(message)
            text = f"{message[:1].upper()}{message[1:]} — Generate is off until Reconnect reaches it."
            self._status.showMessage(text, 20000)
            return
        self._status.set_backend_failed(message)
        text = f"{message}\n\nDownload the GLIDE weights now? (Models → Download GLIDE Weights… later)"
        if ask_yes_no(self._parent, "The model could not be loaded", text):
            self.show_download_dialog()

    # -- commands --------------------------------------------------------------------------------

    def show_download_dialog(self, group: str | None = None) -> None:
        """Fetch the editor's files, or one group's (``text2im``, ``clip``) when a feature needs them."""
        from ..core.weights.released import DEFAULT_GROUP, GROUPS

        try:
            store = self._store_locator() if self._store_locator else _default_store()
        except Exception as exc:  # a bad weights folder or environment variable
            show_error(self._parent, "Download GLIDE weights", str(exc))
            return
        info = self.service.info if self.service is not None else None
        names = [n for n in GROUPS[group or DEFAULT_GROUP] if not store.has(n)]
        if not names:
            show_info(
                self._parent, "Download GLIDE weights", f"All GLIDE files are already in {store.folder}."
            )
            return
        dialog = DownloadDialog(store, names, demo=bool(info and info.is_demo), parent=self._parent)
        if dialog.exec():
            self.reload_models()

    def offer_download(self, group: str, why: str) -> None:
        """A feature lacks released files: say which, and offer to fetch them."""
        if ask_yes_no(self._parent, "Files needed", f"{why}\n\nDownload them now?"):
            self.show_download_dialog(group)

    def choose_backend(self) -> None:
        dialog = BackendDialog(self.choice, self._parent)
        if not dialog.exec():
            return
        choice = dialog.backend()
        if choice == self.choice:
            return
        if self._running():
            show_info(self._parent, "Backend", "Wait for the run to finish (or cancel it) before switching.")
            return
        self.choice = choice
        self._settings.set_backend(choice)
        self._status.showMessage(f"Models now run on: {choice.label}", 8000)
        self.reload_models()

    def reload_models(self) -> None:
        """Load the models again (after weights were added by hand, for instance)."""
        if self._running():
            self._status.showMessage("Wait for the run to finish (or cancel it) before reloading.", 6000)
            return
        if self.service is not None:
            self._status.set_loading()
            self.service.reload()


def _default_store() -> Any:
    from ..core.weights.store import ModelStore

    return ModelStore.locate()
