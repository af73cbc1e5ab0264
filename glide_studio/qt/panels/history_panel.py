"""The history panel: edits recorded in the opened file, the original, and each applied edit.

It reads the editing session's undo history, so it always agrees with
Undo/Redo: clicking an entry moves the history to just after that edit
(undoing or redoing whatever lies between, strokes included). Edits that are
currently undone stay listed, dimmed, until something new replaces them.
Edits read from a file this program saved earlier are listed first, in
italics: they are part of the picture's story but cannot be undone.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QMenu, QVBoxLayout, QWidget
from shiboken6 import isValid

from ...core.editing.document import Document
from ...core.editing.file_info import edit_info
from ...core.editing.patches import EditRecord, make_thumbnail
from ...core.editing.session import EditingSession
from ...core.editing.undo_steps import ApplyStep, ExtendStep
from ..convert import to_pixmap
from ..session_model import SessionModel
from .candidates import untinted_icon

__all__ = ["HistoryPanel"]

_INDEX = Qt.ItemDataRole.UserRole
_FROM_FILE = -1


class HistoryPanel(QWidget):
    useSettingsRequested = Signal(object, object)
    """"Use these settings" on an entry: (EditRecord or None, parameters)."""

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self._recorded: dict[int, tuple[EditRecord | None, dict[str, str]]] = {}
        """Row: the record and parameters of the edit it lists."""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        self.list = QListWidget()
        self.list.setIconSize(QSize(48, 48))
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setWordWrap(True)
        self.list.itemClicked.connect(self._clicked)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)
        layout.addWidget(self.list)
        for signal in (model.historyChanged, model.sessionReplaced, model.savedChanged, model.runChanged):
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
        self._recorded.clear()
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
            self._recorded[self.list.count()] = (earlier.record, dict(earlier.parameters))
            self.list.addItem(item)
        original = QListWidgetItem("Original" if not session.document.earlier_edits else "Opened picture")
        original.setData(_INDEX, 0)
        if self._original_icon is not None:
            original.setIcon(self._original_icon)
        self.list.addItem(original)
        active = original
        current = session.history.index
        for index, step in _listed_steps(session):
            if isinstance(step, ExtendStep):
                item = QListWidgetItem(f"{step.label}\nthe new area is masked for outpainting")
                item.setToolTip(step.label)
            else:
                edit = step.edit
                mode = "Outpainting: " if edit.parameters.get("mode") == "outpaint" else ""
                item = QListWidgetItem(f"{mode}{edit.prompt or '(no prompt)'}\n{_details(edit.parameters)}")
                item.setIcon(untinted_icon(to_pixmap(edit.thumbnail)))
                item.setToolTip("\n".join(f"{k}: {v}" for k, v in edit.parameters.items()))
                self._recorded[self.list.count()] = (edit.record, dict(edit.parameters))
            item.setData(_INDEX, index)
            if index > current:
                _dim(item)
            else:
                active = item
            self.list.addItem(item)
        self.list.setCurrentItem(active)
        running = session.run is not None and session.run.running
        self.list.setEnabled(not running)
        wait = "Wait for the run to finish (or press Esc) to go back in History."
        self.list.setToolTip(wait if running else "")

    def _clicked(self, item: QListWidgetItem) -> None:
        session = self._model.session
        index = int(item.data(_INDEX))
        if session is None or index == _FROM_FILE:
            return
        if session.run is not None and session.run.running:
            self.refresh()  # never highlight a state that is not shown
            return
        if index == 0:
            # Back to the original picture: undo every edit (strokes before the first edit stay).
            entries = _listed_steps(session)
            index = entries[0][0] - 1 if entries else session.history.index
        session.go_to(index)
        self.refresh()

    def _context_menu(self, pos: QPoint) -> None:
        row = self.list.indexAt(pos).row()
        if row not in self._recorded:
            return
        menu = QMenu(self)
        menu.addAction("Use these settings", lambda: self.use_settings_of(row))
        menu.exec(self.list.viewport().mapToGlobal(pos))

    def use_settings_of(self, row: int) -> bool:
        """Ask for the prompt, seed, settings and mask of the edit listed in ``row``."""
        if row not in self._recorded:
            return False
        self.useSettingsRequested.emit(*self._recorded[row])
        return True


def _listed_steps(session: EditingSession) -> list[tuple[int, ApplyStep | ExtendStep]]:
    """(history position after the step, step) for every applied edit and canvas extension."""
    return [(i + 1, s) for i, s in enumerate(session.history.steps) if isinstance(s, ApplyStep | ExtendStep)]


def original_thumbnail(doc: Document, size: int = 48) -> np.ndarray:
    """The picture before any edit or extension (RGBA over transparency), small."""
    first = doc.operations[0] if doc.operations else None
    rgb = doc.picture_before(first) if first is not None else np.asarray(doc.rgb)
    alpha = doc.alpha_before(first) if first is not None else doc.alpha
    if alpha is not None and alpha.min() < 255:
        return make_thumbnail(np.dstack([rgb, alpha]), size)
    return make_thumbnail(rgb, size)


def _details(parameters: dict[str, str]) -> str:
    return f"seed {parameters.get('seed', '?')} · guidance {parameters.get('guidance', '?')}"


def _dim(item: QListWidgetItem) -> None:
    item.setForeground(QColor(120, 124, 132))
    font = QFont(item.font())
    font.setItalic(True)
    item.setFont(font)
