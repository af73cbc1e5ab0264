"""Which models the window runs on, and getting them: the backend, loading, downloads.

The loader runs on the model thread and reads only a copy of the backend
setting taken on the GUI thread; everything else here runs on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject

from .backend_dialog import BackendDialog
from .dialogs import DownloadDialog, ask_yes_no, show_error, show_info
from .worker import EngineFactory, EngineInfo

if TYPE_CHECKING:
    from .main_window import MainWindow

__all__ = ["ModelsController"]


class ModelsController(QObject):
    def __init__(
        self,
        window: MainWindow,
        *,
        factory: EngineFactory,
        store_locator: Callable[[], Any] | None,
    ) -> None:
        super().__init__(window)
        self._window = window
        self._local_factory = factory
        self._store_locator = store_locator
        self.backend = window.settings.backend()

    def load_engine(self) -> Any:
        """Runs on the model thread: the server's models, or this computer's."""
        backend = self.backend
        if backend.remote:
            from ..core.remote.client import RemoteEngine

            return RemoteEngine.connect(backend.url, token=backend.token or None)
        return self._local_factory()

    # -- engine state --------------------------------------------------------------------------

    def update_model_side(self) -> None:
        """The resolution the region is finally generated at, for the region square's label."""
        w = self._window
        info = w.service.engine
        base, up = (info.base_resolution, info.upsample_resolution) if info else (64, 256)
        upsample = w.prompt_panel.upsample
        w.canvas.set_model_side(up if up and upsample.isChecked() and upsample.isEnabled() else base)

    def on_engine_ready(self, info: EngineInfo) -> None:
        w = self._window
        w.status.set_engine(info)
        panel = w.prompt_panel
        panel.set_upsampler_available(info.upsample_resolution)
        panel.upsample.setToolTip(
            f"Run the second stage: {info.base_resolution} px → {info.upsample_resolution} px, "
            "sharper detail, several times slower"
            if panel.upsample.isEnabled()
            else "The loaded model has no upsampler: results are generated at the base resolution"
        )
        if info.sampling:
            panel.apply_recommended(info.sampling, label="Demo model" if info.is_demo else "Model's own")
        self.update_model_side()
        if info.is_demo:
            w.status.showMessage(
                "Running the built-in demo model, not GLIDE: download the weights for real edits.", 15000
            )

    def on_engine_failed(self, message: str) -> None:
        """Say why, and offer the download (the usual cure: missing or damaged weights)."""
        self._window.status.set_engine_failed(message)
        text = f"{message}\n\nDownload the GLIDE weights now? (Models → Download GLIDE Weights… later)"
        if ask_yes_no(self._window, "The model could not be loaded", text):
            self.show_download_dialog()

    # -- commands --------------------------------------------------------------------------------

    def show_download_dialog(self, group: str | None = None) -> None:
        """Fetch the editor's files, or one group's (``text2im``, ``clip``) when a feature needs them."""
        from ..core.weights.released import DEFAULT_GROUP, GROUPS

        w = self._window
        try:
            store = self._store_locator() if self._store_locator else _default_store()
        except Exception as exc:  # a bad weights folder or environment variable
            show_error(w, "Download GLIDE weights", str(exc))
            return
        info = w.service.engine
        names = [n for n in GROUPS[group or DEFAULT_GROUP] if not store.has(n)]
        if not names:
            show_info(w, "Download GLIDE weights", f"All GLIDE files are already in {store.folder}.")
            return
        dialog = DownloadDialog(store, names, demo=bool(info and info.is_demo), parent=w)
        if dialog.exec():
            self.reload_models()

    def offer_download(self, group: str, why: str) -> None:
        """A feature lacks released files: say which, and offer to fetch them."""
        if ask_yes_no(self._window, "Files needed", f"{why}\n\nDownload them now?"):
            self.show_download_dialog(group)

    def choose_backend(self) -> None:
        w = self._window
        dialog = BackendDialog(self.backend, w)
        if not dialog.exec():
            return
        backend = dialog.backend()
        if backend == self.backend:
            return
        if w.generation.running:
            show_info(w, "Backend", "Wait for the run to finish (or cancel it) before switching.")
            return
        self.backend = backend
        w.settings.set_backend(backend)
        w.status.showMessage(f"Models now run on: {backend.label}", 8000)
        self.reload_models()

    def reload_models(self) -> None:
        """Load the engine again (after weights were added by hand, for instance)."""
        w = self._window
        if w.generation.running:
            w.status.showMessage("Wait for the run to finish (or cancel it) before reloading.", 6000)
            return
        w.status.set_loading()
        w.service.reload()


def _default_store() -> Any:
    from ..core.weights.store import ModelStore

    return ModelStore.locate()
