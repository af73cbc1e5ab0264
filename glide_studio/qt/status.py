"""The status bar: messages on the left; picture size, zoom, model and device on the right.

When the models are the built-in demo model (or weights are missing) it says
so in plain words and offers the download right there.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QPushButton, QStatusBar, QWidget

from ..core.generation.backend import BackendInfo

__all__ = ["StatusBar"]


class StatusBar(QStatusBar):
    downloadRequested = Signal()
    reconnectRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizeGripEnabled(False)
        self.size_label = QLabel()
        self.zoom_label = QLabel()
        self.model_label = QLabel("Loading model…")
        self.device_label = QLabel()
        self.download_button = QPushButton("Download GLIDE weights…")
        self.download_button.setFlat(True)
        self.download_button.setStyleSheet("QPushButton { color: #8eaaff; padding: 0 6px; border: none; }")
        self.download_button.setToolTip("Fetch the released GLIDE inpainting weights (about 3 GB)")
        self.download_button.clicked.connect(self.downloadRequested)
        self.download_button.setVisible(False)
        self.reconnect_button = QPushButton("Reconnect")
        self.reconnect_button.setFlat(True)
        self.reconnect_button.setStyleSheet("QPushButton { color: #8eaaff; padding: 0 6px; border: none; }")
        self.reconnect_button.setToolTip("Ask the server again (Generate is off until it answers)")
        self.reconnect_button.clicked.connect(self.reconnectRequested)
        self.reconnect_button.setVisible(False)
        for widget in (
            self.size_label,
            self.zoom_label,
            self.model_label,
            self.download_button,
            self.reconnect_button,
            self.device_label,
        ):
            self.addPermanentWidget(widget)
        for label in (self.size_label, self.zoom_label, self.device_label):
            label.setContentsMargins(8, 0, 8, 0)

    def set_picture(self, width: int | None, height: int | None) -> None:
        self.size_label.setText(f"{width} × {height} px" if width and height else "")

    def set_zoom(self, zoom: float) -> None:
        self.zoom_label.setText(f"{zoom * 100:.0f} %")

    def set_loading(self) -> None:
        self.model_label.setText("Loading model…")
        self.model_label.setToolTip("")
        self.reconnect_button.setVisible(False)

    def set_server_unreachable(self, message: str) -> None:
        """The chosen server cannot be reached: no weights to download here, a way to try again."""
        self.model_label.setText("Server unreachable")
        self.model_label.setStyleSheet("color: #f08a7a;")
        self.model_label.setToolTip(message)
        self.device_label.setText("")
        self.download_button.setVisible(False)
        self.reconnect_button.setVisible(True)

    def set_backend(self, info: BackendInfo) -> None:
        if info.is_demo:
            self.model_label.setText("Demo model — not GLIDE: results only show how editing works")
            self.model_label.setStyleSheet("color: #f0b36a;")
        else:
            self.model_label.setText(f"Model: {info.description}")
            self.model_label.setStyleSheet("")
        tip = info.description
        if info.missing:
            tip += "\nMissing: " + ", ".join(info.missing)
        if info.notice:
            tip += "\n" + info.notice
            if not info.is_demo:  # the window has its own message for the demo model
                self.showMessage(info.notice, 30000)
        self.model_label.setToolTip(tip)
        self.device_label.setText(info.device_label)
        threads = f"; the worker uses {info.threads} CPU thread(s)" if info.threads else ""
        self.device_label.setToolTip(f"The model runs here{threads}")
        self.download_button.setVisible(info.is_demo or bool(info.missing))
        self.reconnect_button.setVisible(False)

    def set_backend_failed(self, message: str) -> None:
        self.model_label.setText("Model not loaded")
        self.model_label.setStyleSheet("color: #f08a7a;")
        self.model_label.setToolTip(message)
        self.download_button.setVisible(True)
