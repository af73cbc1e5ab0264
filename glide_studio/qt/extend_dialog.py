"""Image → Extend Canvas…: grow the picture on any side, then fill the new area (outpainting)."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QDialog, QDialogButtonBox, QFormLayout, QSpinBox, QWidget

__all__ = ["ExtendDialog"]


class ExtendDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Extend canvas")
        form = QFormLayout(self)
        self.sides: dict[str, QSpinBox] = {}
        for name, default in (("left", 0), ("top", 0), ("right", 256), ("bottom", 0)):
            box = QSpinBox(minimum=0, maximum=4096, singleStep=32, suffix=" px", value=default)
            self.sides[name] = box
            form.addRow(name.capitalize(), box)
        self.fill = QCheckBox("Fill the new area now, with the prompt")
        self.fill.setChecked(True)
        self.fill.setToolTip("Outpaint square by square, each square seeing what was generated before it")
        form.addRow(self.fill)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> dict[str, int]:
        return {name: box.value() for name, box in self.sides.items()}
