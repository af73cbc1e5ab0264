"""Message boxes and the model-download dialog.

All message boxes go through the helpers here (which call ``QMessageBox``'s
static functions at call time), so tests can patch ``QMessageBox`` and never
block on a modal dialog.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QThread, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMessageBox,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

__all__ = [
    "DownloadDialog",
    "DownloadThread",
    "ask_save_changes",
    "ask_yes_no",
    "human_size",
    "show_error",
    "show_info",
]


def show_error(parent: QWidget | None, title: str, text: str) -> None:
    QMessageBox.critical(parent, title, text)


def show_info(parent: QWidget | None, title: str, text: str) -> None:
    QMessageBox.information(parent, title, text)


def ask_yes_no(parent: QWidget | None, title: str, text: str, *, default_yes: bool = True) -> bool:
    buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
    default = QMessageBox.StandardButton.Yes if default_yes else QMessageBox.StandardButton.No
    answer = QMessageBox.question(parent, title, text, buttons, default)
    return answer == QMessageBox.StandardButton.Yes


def ask_save_changes(parent: QWidget | None, title: str, what: str = "edits that are not saved") -> str:
    """'save', 'discard' or 'cancel' before work would be lost.

    The default is Save, which never overwrites the picture the user opened
    (the first save of an opened image goes to Save As).
    """
    buttons = (
        QMessageBox.StandardButton.Save
        | QMessageBox.StandardButton.Discard
        | QMessageBox.StandardButton.Cancel
    )
    answer = QMessageBox.question(
        parent,
        "Unsaved changes",
        f"“{title}” has {what}. Save first?",
        buttons,
        QMessageBox.StandardButton.Save,
    )
    if answer == QMessageBox.StandardButton.Save:
        return "save"
    if answer == QMessageBox.StandardButton.Discard:
        return "discard"
    return "cancel"


def human_size(size: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


class DownloadThread(QThread):
    """Fetches files one after another through the model store; cancellable between chunks."""

    progress = Signal(str, int, object)
    """name, bytes so far, total bytes or None (throttled to ~10 per second)."""
    fileDone = Signal(str)
    completed = Signal()
    stopped = Signal(str)
    """Cancelled by the user; the message says what was kept for resuming."""
    failed = Signal(str)

    def __init__(self, store: Any, names: Sequence[str]) -> None:
        super().__init__()
        self._store = store
        self._names = list(names)
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def run(self) -> None:
        from ..core.weights.store import DownloadCancelled, StoreError

        try:
            for name in self._names:
                if self._cancel.is_set():
                    raise DownloadCancelled(self._store.path(name).with_suffix(".part"))
                self._fetch(name)
                self.fileDone.emit(name)
        except DownloadCancelled as exc:
            self.stopped.emit(str(exc))
        except (StoreError, OSError) as exc:
            self.failed.emit(str(exc))
        else:
            self.completed.emit()

    def _fetch(self, name: str) -> None:
        last = 0.0

        def report(done: int, total: int | None) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= 0.1 or (total is not None and done >= total):
                last = now
                self.progress.emit(name, done, total)

        self._store.download(name, progress=report, cancel=self._cancel.is_set)


class DownloadDialog(QDialog):
    """Lists the missing files, downloads them with progress, and can be cancelled at any time."""

    def __init__(
        self, store: Any, names: Sequence[str], *, demo: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Download GLIDE weights")
        self.setMinimumWidth(520)
        self._store = store
        self._names = list(names)
        self._sizes = {n: int(getattr(store.entry(n), "approx_bytes", 0)) for n in self._names}
        self._done: dict[str, int] = {}
        self._started = 0.0
        self._thread: DownloadThread | None = None
        self._build(demo)

    def _build(self, demo: bool) -> None:
        layout = QVBoxLayout(self)
        intro = (
            "You are using the built-in demo model, which only shows how editing works; "
            "its results are not real edits.\n\n"
            if demo
            else ""
        )
        files = "\n".join(
            f"  • {self._store.entry(n).filename} ({human_size(self._sizes[n])})" for n in self._names
        )
        total = human_size(sum(self._sizes.values()))
        text = QLabel(
            f"{intro}GLIDE needs these files ({total} in all):\n{files}\n\nThey go into {self._store.folder}"
        )
        text.setWordWrap(True)
        layout.addWidget(text)
        self.status = QLabel("Ready to download.")
        self.status.setObjectName("hint")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.bar.setTextVisible(False)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        self.buttons = QDialogButtonBox()
        self.start_button = self.buttons.addButton("Download", QDialogButtonBox.ButtonRole.AcceptRole)
        self.start_button.setObjectName("primary")
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        layout.addWidget(self.buttons)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def start(self) -> None:
        if self.running:
            return
        self._started = time.monotonic()
        self._thread = DownloadThread(self._store, [n for n in self._names if not self._store.has(n)])
        self._thread.progress.connect(self._on_progress)
        self._thread.completed.connect(self._on_completed)
        self._thread.stopped.connect(self._on_stopped)
        self._thread.failed.connect(self._on_failed)
        self.start_button.setEnabled(False)
        self.status.setText("Connecting…")
        self._thread.start()

    def cancel(self) -> None:
        """Stop a running download (kept for resuming), or close the dialog."""
        if self.running and self._thread is not None:
            self.status.setText("Stopping…")
            self._thread.cancel()
            self._thread.wait()
        self.reject()

    def reject(self) -> None:
        if self.running and self._thread is not None:
            self._thread.cancel()
            self._thread.wait()
        super().reject()

    def _on_progress(self, name: str, done: int, total: int | None) -> None:
        if total:
            self._sizes[name] = total
        self._done[name] = done
        got, everything = sum(self._done.values()), max(1, sum(self._sizes.values()))
        self.bar.setValue(int(1000 * got / everything))
        elapsed = max(time.monotonic() - self._started, 1e-3)
        speed = got / elapsed
        left = (everything - got) / speed if speed > 0 else 0
        self.status.setText(
            f"{self._store.entry(name).filename}: {human_size(got)} of {human_size(everything)}"
            f" · {human_size(speed)}/s · about {_duration(left)} left"
        )

    def _on_completed(self) -> None:
        self.bar.setValue(1000)
        self.status.setText("All files downloaded.")
        self.accept()

    def _on_stopped(self, message: str) -> None:
        self.status.setText(message)
        self.start_button.setEnabled(True)

    def _on_failed(self, message: str) -> None:
        self.status.setText("The download failed.")
        self.status.setObjectName("error")
        self.start_button.setEnabled(True)
        self.start_button.setText("Try again")
        show_error(self, "Download failed", message)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    if seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"
