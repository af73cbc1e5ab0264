"""The history panel: the original picture and each applied edit, newest last.

It reads the undo stack, so it always agrees with Undo/Redo: clicking an
entry moves the stack to just after that edit (undoing or redoing whatever
lies between, strokes included). Edits that are currently undone stay listed,
dimmed, until something new replaces them.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QUndoStack
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QVBoxLayout, QWidget
from shiboken6 import isValid

from ..convert import to_pixmap
from ..undo_commands import ApplyEditCommand

__all__ = ["HistoryPanel"]

_INDEX = Qt.ItemDataRole.UserRole


class HistoryPanel(QWidget):
    def __init__(self, stack: QUndoStack, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._stack = stack
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        self.list = QListWidget()
        self.list.setIconSize(QSize(48, 48))
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setWordWrap(True)
        self.list.itemClicked.connect(self._clicked)
        layout.addWidget(self.list)
        stack.indexChanged.connect(self.refresh)
        stack.cleanChanged.connect(self.refresh)
        self._original_icon: QIcon | None = None
        self.refresh()

    def set_original_thumbnail(self, icon: QIcon | None) -> None:
        self._original_icon = icon
        self.refresh()

    def entries(self) -> list[tuple[int, ApplyEditCommand]]:
        """(stack index after the command, command) for every applied-edit step in the stack."""
        found = []
        for i in range(self._stack.count()):
            command = self._stack.command(i)
            if isinstance(command, ApplyEditCommand):
                found.append((i + 1, command))
        return found

    def refresh(self, *_: object) -> None:
        if not isValid(self._stack) or not isValid(self.list):
            return  # the window is being destroyed (the stack signals while it clears itself)
        self.list.clear()
        current = self._stack.index()
        original = QListWidgetItem("Original")
        original.setData(_INDEX, 0)
        if self._original_icon is not None:
            original.setIcon(self._original_icon)
        self.list.addItem(original)
        active = original
        for index, command in self.entries():
            edit = command.edit
            prompt = edit.prompt or "(no prompt)"
            item = QListWidgetItem(
                f"{prompt}\nseed {edit.seed} · guidance {edit.parameters.get('guidance', '?')}"
            )
            item.setIcon(QIcon(to_pixmap(edit.thumbnail)))
            item.setData(_INDEX, index)
            item.setToolTip("\n".join(f"{k}: {v}" for k, v in edit.parameters.items()))
            if index > current:
                item.setForeground(QColor(120, 124, 132))
                font = QFont(item.font())
                font.setItalic(True)
                item.setFont(font)
            else:
                active = item
            self.list.addItem(item)
        self.list.setCurrentItem(active)

    def _clicked(self, item: QListWidgetItem) -> None:
        index = int(item.data(_INDEX))
        if index == 0:
            # Back to the original picture: undo every edit (strokes before the first edit stay).
            entries = self.entries()
            index = entries[0][0] - 1 if entries else self._stack.index()
        self._stack.setIndex(index)
