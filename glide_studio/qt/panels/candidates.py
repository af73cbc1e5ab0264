"""The candidates strip along the bottom: live thumbnails during a run, then pick, Apply or Discard.

It draws the session's run (``show_run``) and keeps no state of its own beyond
the tiles' pixmaps.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...core.editing.run import Run, RunStatus
from ..icons import icon

__all__ = ["THUMB", "CandidatesStrip", "untinted_icon"]

THUMB = 104


class CandidatesStrip(QWidget):
    """One tile per candidate. Selecting a tile shows that candidate in place on the canvas."""

    selected = Signal(int)
    applyRequested = Signal(int)
    discardRequested = Signal()
    compareToggled = Signal(bool)
    """Show the original instead of the candidate (held or toggled)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 8)
        layout.setSpacing(10)
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setFlow(QListView.Flow.LeftToRight)
        self.list.setWrapping(False)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setGridSize(QSize(THUMB + 40, THUMB + 30))
        self.list.setFixedHeight(THUMB + 44)
        self.list.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.currentRowChanged.connect(self._row_changed)
        self.list.itemDoubleClicked.connect(lambda item: self.applyRequested.emit(self.list.row(item)))
        layout.addWidget(self.list, 1)
        layout.addLayout(self._build_buttons())
        self.clear()

    def _build_buttons(self) -> QVBoxLayout:
        column = QVBoxLayout()
        column.setSpacing(6)
        self.hint = QLabel()
        self.hint.setObjectName("hint")
        self.hint.setWordWrap(True)
        self.hint.setFixedWidth(190)
        self.apply_button = QPushButton(icon("apply"), "  Apply")
        self.apply_button.setObjectName("primary")
        self.apply_button.setToolTip(
            "Make the selected candidate part of the picture (Ctrl+Shift+Enter, or double-click it)"
        )
        self.apply_button.clicked.connect(lambda: self.applyRequested.emit(self.current))
        self.discard_button = QPushButton(icon("discard"), "  Discard")
        self.discard_button.setToolTip("Drop all candidates and keep the picture as it is (Ctrl+Backspace)")
        self.discard_button.clicked.connect(self.discardRequested)
        self.compare_button = QPushButton("  Before / after")
        self.compare_button.setCheckable(True)
        self.compare_button.setToolTip(
            "Toggle between the original and the selected candidate (or hold \\ over the canvas)"
        )
        self.compare_button.toggled.connect(self.compareToggled)
        column.addWidget(self.hint)
        column.addStretch(1)
        column.addWidget(self.compare_button)
        column.addWidget(self.apply_button)
        column.addWidget(self.discard_button)
        return column

    # -- content ----------------------------------------------------------------------------

    @property
    def count(self) -> int:
        return self.list.count()

    @property
    def current(self) -> int:
        return self.list.currentRow()

    def clear(self) -> None:
        self.list.blockSignals(True)  # emptying the list is no choice of a candidate
        self.list.clear()
        self.list.blockSignals(False)
        self.hint.setText("Paint a region, describe it, and Generate. Candidates appear here.")
        self._update_buttons(applicable=False)

    def show_run(self, run: Run | None, *, stale: bool) -> None:
        """Draw the session's run: one tile per candidate, its selection, what can be done."""
        if run is None:
            self.clear()
            return
        if self.list.count() != run.expected:
            self._tiles(run.request.seeds)
        self.list.blockSignals(True)
        self.list.setCurrentRow(run.selected)
        self.list.blockSignals(False)
        arrived = {c.index for c in run.candidates}
        for k in range(self.list.count()):
            item = self.list.item(k)
            missing = not run.running and k not in arrived
            item.setFlags(
                item.flags() & ~Qt.ItemFlag.ItemIsEnabled
                if missing
                else item.flags() | Qt.ItemFlag.ItemIsEnabled
            )
        self.hint.setText(_hint(run, stale))
        self._update_buttons(applicable=run.applicable and not stale)

    def _tiles(self, seeds: Sequence[int]) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for k, seed in enumerate(seeds):
            item = QListWidgetItem(f"#{k + 1}  ·  {seed}")
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
            item.setToolTip(f"Candidate {k + 1} (seed {seed}); press {k + 1} to view it" if k < 9 else "")
            self.list.addItem(item)
        self.list.blockSignals(False)

    def set_thumbnail(self, index: int, pixmap: QPixmap) -> None:
        item = self.list.item(index)
        if item is not None:
            item.setIcon(untinted_icon(pixmap))

    def select(self, index: int) -> None:
        if 0 <= index < self.count:
            self.list.setCurrentRow(index)

    def _row_changed(self, row: int) -> None:
        if row >= 0:
            self.selected.emit(row)

    def _update_buttons(self, *, applicable: bool) -> None:
        self.apply_button.setEnabled(applicable and self.current >= 0)
        self.discard_button.setEnabled(self.count > 0)
        self.compare_button.setEnabled(self.count > 0)
        if self.count == 0:
            self.compare_button.setChecked(False)


def untinted_icon(pixmap: QPixmap) -> QIcon:
    """The same pixels when selected: a tinted thumbnail would lie about the result's colours."""
    icon = QIcon()
    for mode in (QIcon.Mode.Normal, QIcon.Mode.Selected, QIcon.Mode.Active):
        icon.addPixmap(pixmap, mode)
    return icon


def _hint(run: Run, stale: bool) -> str:
    if run.running:
        return "Generating… the tiles sharpen as the model denoises."
    if stale:
        return "The picture changed since these were made: generate again (or undo to apply one)."
    if run.status is RunStatus.CANCELLED:
        return f"Stopped early: {len(run.candidates)} finished candidate(s) kept. Apply one or Discard."
    if run.status is RunStatus.FAILED:
        return f"The run failed ({run.message}); {len(run.candidates)} finished candidate(s) kept."
    return "Click a candidate to see it in place; Apply keeps it."
