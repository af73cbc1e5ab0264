"""Holding ``\\`` shows the original wherever the keyboard focus is, once there is something to compare.

The canvas handles the key itself when it has focus; this filter covers the
rest of the window (the prompt, the candidate strip, the history), so that a
user who just pressed Enter in the prompt can still hold ``\\``.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QWidget

__all__ = ["CompareKeyFilter"]


class CompareKeyFilter(QObject):
    def __init__(
        self, window: QWidget, *, active: Callable[[], bool], compare: Callable[[bool], None]
    ) -> None:
        super().__init__(window)
        self._window = window
        self._active = active
        self._compare = compare

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind not in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease, QEvent.Type.ShortcutOverride):
            return False
        if not isinstance(event, QKeyEvent) or event.key() != Qt.Key.Key_Backslash:
            return False
        if not isinstance(watched, QWidget) or watched.window() is not self._window or not self._active():
            return False
        if kind == QEvent.Type.ShortcutOverride:
            event.accept()  # keep text fields from typing it
            return True
        if not event.isAutoRepeat():
            self._compare(kind == QEvent.Type.KeyPress)
        return True
