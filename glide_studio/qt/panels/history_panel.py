"""The history panel: edits recorded in the opened file, the original, and each applied edit.

It reads the editing session's undo history, so it always agrees with
Undo/Redo: clicking an entry moves the history to just after that edit
(undoing or redoing whatever lies between, strokes included). Edits that are
currently undone stay listed, dimmed, until something new replaces them.
Edits read from a file this program saved earlier are listed first, in
italics: they are part of the picture's story but cannot be undone.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QFont, QIcon
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QVBoxLayout, QWidget
from shiboken6 import isValid

from ...core.editing.file_info import edit_info
from ..convert import to_pixmap
from ..session_model import SessionModel
from .candidates import untinted_icon

__all__ = ["HistoryPanel"]

_INDEX = Qt.ItemDataRole.UserRole
_FROM_FILE = -1


class HistoryPanel(QWidget):
    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = model
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        self.list = QListWidget()
        self.list.setIconSize(QSize(48, 48))
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setWordWrap(True)
        self.list.itemClicked.connect(self._clicked)
        layout.addWidget(self.list)
        for signal in (model.historyChanged, model.sessionReplaced, model.savedChanged):
            signal.connect(self.refresh)
        self._original_icon: QIcon | None = None
        self.refresh()

    def set_original_thumbnail(self, icon: QIcon | None) -> None:
        self._original_icon = icon
        self.refresh()

    def refresh(self, *_: object) -> None:
        if not isValid(self.list):
            return  # the window is being destroyed
        self.list.clear()
        session = self._model.session
        if session is None:
            return
        for earlier in session.document.earlier_edits:
            item = QListWidgetItem(
                f"{earlier.prompt or '(no prompt)'}\n{_details(earlier.parameters)} · from the file"
            )
            item.setData(_INDEX, _FROM_FILE)
            described = edit_info(earlier.parameters, earlier.record)  # what `glide-studio info` shows
            item.setToolTip(
                "\n".join(
                    [
                        "Recorded in the opened file by an earlier session; the picture already contains it.",
                        *(" · ".join(part) for part in (described.details(), described.geometry()) if part),
                    ]
                )
            )
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsSelectable)
            _dim(item)
            self.list.addItem(item)
        original = QListWidgetItem("Original" if not session.document.earlier_edits else "Opened picture")
        original.setData(_INDEX, 0)
        if self._original_icon is not None:
            original.setIcon(self._original_icon)
        self.list.addItem(original)
        active = original
        current = session.history.index
        for index, step in session.applied_edit_steps():
            edit = step.edit
            item = QListWidgetItem(f"{edit.prompt or '(no prompt)'}\n{_details(edit.parameters)}")
            item.setIcon(untinted_icon(to_pixmap(edit.thumbnail)))
            item.setData(_INDEX, index)
            item.setToolTip("\n".join(f"{k}: {v}" for k, v in edit.parameters.items()))
            if index > current:
                _dim(item)
            else:
                active = item
            self.list.addItem(item)
        self.list.setCurrentItem(active)

    def _clicked(self, item: QListWidgetItem) -> None:
        session = self._model.session
        index = int(item.data(_INDEX))
        if session is None or index == _FROM_FILE:
            return
        if index == 0:
            # Back to the original picture: undo every edit (strokes before the first edit stay).
            entries = session.applied_edit_steps()
            index = entries[0][0] - 1 if entries else session.history.index
        session.go_to(index)


def _details(parameters: dict[str, str]) -> str:
    return f"seed {parameters.get('seed', '?')} · guidance {parameters.get('guidance', '?')}"


def _dim(item: QListWidgetItem) -> None:
    item.setForeground(QColor(120, 124, 132))
    font = QFont(item.font())
    font.setItalic(True)
    item.setFont(font)
