"""The live-mode controls of the generation panel: the switch, what Apply does, the measured time.

It only shows and collects; ``glide_studio.qt.live.LiveController`` decides when
updates run (rules in ``core.generation.live``).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QLabel, QVBoxLayout, QWidget

from ...core.generation.live import APPLY_LIVE, APPLY_RENDER, LIVE_PRESET

__all__ = ["LiveBox"]


class LiveBox(QWidget):
    toggled = Signal(bool)
    applyChoiceChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.switch = QCheckBox("Live: the result follows the brush")
        self.switch.setToolTip(
            "After each stroke, mask or prompt change a quick edit runs with the current seed "
            f"({LIVE_PRESET.description}) and is shown in place; a newer change cancels it (Ctrl+L)"
        )
        self.switch.toggled.connect(self._toggled)
        layout.addWidget(self.switch)
        self._details = QWidget()
        form = QFormLayout(self._details)
        form.setContentsMargins(18, 0, 0, 0)
        self.apply_choice = QComboBox()
        self.apply_choice.addItem("Take the live result", APPLY_LIVE)
        self.apply_choice.addItem("Render the chosen quality first", APPLY_RENDER)
        self.apply_choice.setToolTip(
            "What Apply does with a live result: keep it as it is, or first run the Quality preset "
            "chosen below with the same seed and region, then apply that"
        )
        self.apply_choice.currentIndexChanged.connect(
            lambda _i: self.applyChoiceChanged.emit(self.apply_mode)
        )
        form.addRow("Apply", self.apply_choice)
        layout.addWidget(self._details)
        self.timing = QLabel()
        self.timing.setObjectName("hint")
        self.timing.setWordWrap(True)
        layout.addWidget(self.timing)
        self._details.setVisible(False)
        self.timing.setVisible(False)

    @property
    def enabled(self) -> bool:
        return self.switch.isChecked()

    @property
    def apply_mode(self) -> str:
        return str(self.apply_choice.currentData())

    def show_status(self, text: str, *, warning: bool = False) -> None:
        """One or two lines under the switch: the time per update, a warning, or why it waits."""
        self.timing.setText(text)
        self.timing.setVisible(bool(text) and self.enabled)
        if self.timing.property("warning") != warning:
            self.timing.setProperty("warning", warning)
            self.timing.setStyleSheet("color: #e0a040;" if warning else "")

    def _toggled(self, on: bool) -> None:
        self._details.setVisible(on)
        self.timing.setVisible(on and bool(self.timing.text()))
        self.toggled.emit(on)
