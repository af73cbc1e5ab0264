"""The colour brush's colour: a swatch in the tool bar that opens a colour dialog."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QColorDialog, QToolButton, QWidget

__all__ = ["ColourButton"]


class ColourButton(QToolButton):
    colourChosen = Signal(object)
    """(r, g, b)"""

    def __init__(self, colour: tuple[int, int, int], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setToolTip("Colour of the colour brush (Alt+click on the picture picks one)")
        self.clicked.connect(self._choose)
        self.show_colour(colour)

    def show_colour(self, colour: tuple[int, int, int]) -> None:
        self._colour = colour
        swatch = QPixmap(22, 22)
        swatch.fill(QColor(*colour))
        self.setIcon(QIcon(swatch))

    def _choose(self) -> None:
        chosen = QColorDialog.getColor(QColor(*self._colour), self, "Colour brush")
        if chosen.isValid():
            colour = (chosen.red(), chosen.green(), chosen.blue())
            self.show_colour(colour)
            self.colourChosen.emit(colour)
