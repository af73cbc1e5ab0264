"""File → New…: a blank canvas of a chosen size, masked whole, ready for a prompt.

Generating on it draws the whole square from the prompt alone: with the
released text-to-image models when they are present, otherwise with the
inpainting models with nothing known.
"""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QSpinBox, QWidget

__all__ = ["NewCanvasDialog"]

SIZES = (
    ("Square 256", 256, 256),
    ("Square 512", 512, 512),
    ("Landscape 768 × 512", 768, 512),
    ("Portrait 512 × 768", 512, 768),
    ("Square 1024", 1024, 1024),
)


class NewCanvasDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New canvas")
        form = QFormLayout(self)
        self.preset = QComboBox()
        for label, width, height in SIZES:
            self.preset.addItem(label, (width, height))
        self.width_box = QSpinBox(minimum=16, maximum=8192, suffix=" px")
        self.height_box = QSpinBox(minimum=16, maximum=8192, suffix=" px")
        form.addRow("Size", self.preset)
        form.addRow("Width", self.width_box)
        form.addRow("Height", self.height_box)
        self.preset.currentIndexChanged.connect(self._preset_chosen)
        self.preset.setCurrentIndex(1)
        self._preset_chosen()
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _preset_chosen(self) -> None:
        width, height = self.preset.currentData()
        self.width_box.setValue(width)
        self.height_box.setValue(height)

    def size(self) -> tuple[int, int]:  # type: ignore[override]
        return self.width_box.value(), self.height_box.value()
