"""The panel's generation-area settings: Context, Detail (Off / Auto / On) and its time.

Context sets how much of the picture around the mask the automatic square shows;
Detail decides whether the upsampler runs again over tiles of an enlarged square so
the edit is as sharp as the photo. Before Generate the panel shows how long the
detail pass would take (``region_controller`` computes it from measured step times).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QLabel, QLineEdit

from ...core.generation.request import DETAIL_CHOICES
from ...core.imaging.region import MAX_CONTEXT

__all__ = ["DetailBox"]

_LABELS = {"off": "Off", "auto": "Auto", "on": "On"}
_TIPS = {
    "off": "Never: the model's output is enlarged to fill the square",
    "auto": "When the square is enlarged more than 1.5× and the models are fast enough "
    "(a GPU, or the demo model); on a CPU with GLIDE choose On yourself",
    "on": "Whenever the square is larger than the model's output: sharp at the photo's own "
    "resolution, one upsampler run per tile",
}


class DetailBox(QObject):
    """The widgets (placed in the panel's forms by the panel) and their values."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.context = QDoubleSpinBox(decimals=2, minimum=0.25, maximum=MAX_CONTEXT, singleStep=0.25)
        self.context.setValue(1.0)
        self.context.setSuffix(" × mask")
        self.context.setToolTip(
            "How much of the picture around the mask the model sees, as a multiple of the mask's "
            "size (1: the mask fills about half the square). Drag the dashed square to choose it yourself."
        )
        self.detail = QComboBox()
        for name in DETAIL_CHOICES:
            self.detail.addItem(_LABELS.get(name, name.capitalize()), name)
            self.detail.setItemData(self.detail.count() - 1, _TIPS.get(name, ""), Qt.ItemDataRole.ToolTipRole)
        self.detail.setToolTip(
            "Detail pass: run the upsampler again over tiles of a large square, so the edit is "
            "as sharp as the photo around it"
        )
        self.steps = QLineEdit()
        self.steps.setToolTip("Steps of each detail tile: a count (20), ddim25, fast27 or sections (10,5)")
        self.estimate = QLabel()
        self.estimate.setObjectName("hint")
        self.estimate.setWordWrap(True)  # "Detail On would take about …" must not widen the panel
        self.estimate.setToolTip("The detail pass's time, from this computer's measured upsampler steps")
        self.context.valueChanged.connect(self.changed)
        self.detail.currentIndexChanged.connect(self.changed)
        self.steps.textEdited.connect(self.changed)
        self.set_values(context=1.0, detail="auto", steps="fast27")

    def set_values(self, *, context: float, detail: str, steps: str) -> None:
        self.context.setValue(min(max(float(context), 0.25), MAX_CONTEXT))
        index = self.detail.findData(detail)
        self.detail.setCurrentIndex(index if index >= 0 else self.detail.findData("auto"))
        self.steps.setText(steps)

    @property
    def detail_choice(self) -> str:
        return str(self.detail.currentData())

    def set_detail(self, choice: str) -> None:
        index = self.detail.findData(choice)
        if index >= 0:
            self.detail.setCurrentIndex(index)
