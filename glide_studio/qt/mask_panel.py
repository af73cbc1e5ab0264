"""The Mask panel: grow and shrink by N pixels, a soft edge, the magic wand's options, and
whether generated pixels keep the picture's transparency.

Every change of the mask (and of the soft edge) is one undo step in the
session; the operations themselves are the pure functions of
``core.imaging.mask_ops``.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QSpinBox,
    QWidget,
)

from ..core.editing.session import SessionError
from ..core.imaging.mask_ops import MAX_STEP, grow, magic_wand, shrink
from .actions import make_action
from .dialogs import show_error
from .session_model import SessionModel
from .settings import Settings

__all__ = ["MaskPanel"]


class MaskPanel(QWidget):
    def __init__(self, model: SessionModel, *, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model, self._settings = model, settings
        form = QFormLayout(self)
        form.setContentsMargins(8, 6, 8, 8)
        self.step = QSpinBox(minimum=1, maximum=MAX_STEP, value=8, suffix=" px")
        self.step.setToolTip("How far Grow and Shrink move the mask's edge")
        grow_button, shrink_button = QPushButton("Grow"), QPushButton("Shrink")
        grow_button.setToolTip("Grow the mask by this many pixels (Ctrl+])")
        shrink_button.setToolTip("Shrink the mask by this many pixels (Ctrl+[)")
        grow_button.clicked.connect(lambda: self.change_size(+1))
        shrink_button.clicked.connect(lambda: self.change_size(-1))
        row = QWidget()
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        for widget in (self.step, grow_button, shrink_button):
            line.addWidget(widget)
        form.addRow("Edge", row)
        self.softness = QSpinBox(minimum=0, maximum=256, suffix=" px")
        self.softness.setToolTip(
            "Soft edge (feather): the result fades into the picture over this band inside the mask's "
            "edge when it is shown and applied (0: only the usual narrow seam blend)"
        )
        self.softness.editingFinished.connect(self._softness_edited)
        form.addRow("Soft edge", self.softness)
        self.tolerance = QSpinBox(
            minimum=0, maximum=255, value=settings.store.value("mask/tolerance", 32, int)
        )
        self.tolerance.setToolTip("Magic wand (W): how far a colour may differ, 0–255 on each channel")
        self.contiguous = QCheckBox("Connected only")
        self.contiguous.setChecked(settings.store.value("mask/contiguous", True, bool))
        self.contiguous.setToolTip("Magic wand: only pixels connected to the clicked one (else all alike)")
        wand = QWidget()
        wand_row = QHBoxLayout(wand)
        wand_row.setContentsMargins(0, 0, 0, 0)
        wand_row.addWidget(self.tolerance)
        wand_row.addWidget(self.contiguous)
        form.addRow("Wand tolerance", wand)
        self.hardness = QSpinBox(minimum=0, maximum=100, suffix=" %")
        self.hardness.setValue(settings.store.value("mask/hardness", 100, int))
        self.hardness.setToolTip(
            "Colour brush (P) hardness: 100 % paints a hard edge; lower fades the brush's edge into "
            "the colours under it. The mask brush (B) has no hardness: a pixel is in the mask or not "
            "(the mask under a colour stroke is always the whole stroke); Soft edge above fades the "
            "result into the picture along the whole mask's edge"
        )
        self.hardness.valueChanged.connect(lambda v: settings.store.setValue("mask/hardness", v))
        form.addRow("Brush hardness", self.hardness)
        self.keep_transparency = QCheckBox("Keep transparency (cut-outs)")
        self.keep_transparency.setToolTip(
            "Off: generated pixels are opaque, also over transparent parts of the picture. "
            "On: they keep the picture's transparency, for cut-outs."
        )
        self.keep_transparency.toggled.connect(self._keep_toggled)
        form.addRow(self.keep_transparency)
        self.tolerance.valueChanged.connect(lambda v: settings.store.setValue("mask/tolerance", v))
        self.contiguous.toggled.connect(lambda v: settings.store.setValue("mask/contiguous", v))
        model.sessionReplaced.connect(self._show_session)
        model.historyChanged.connect(self._show_session)
        self._show_session()

    def make_actions(self, parent: QWidget) -> list[QAction]:
        """Grow and Shrink with their keys (added to ``parent`` so they work anywhere in it)."""
        return [
            make_action(parent, "&Grow Mask", lambda: self.change_size(+1), shortcuts=("Ctrl+]",)),
            make_action(parent, "S&hrink Mask", lambda: self.change_size(-1), shortcuts=("Ctrl+[",)),
        ]

    def _show_session(self) -> None:
        session = self._model.session
        self.setEnabled(session is not None)
        if session is None:
            return
        for widget, value in ((self.softness, session.edge_softness),):
            widget.blockSignals(True)
            widget.setValue(value)
            widget.blockSignals(False)
        self.keep_transparency.blockSignals(True)
        self.keep_transparency.setChecked(session.keep_transparency)
        self.keep_transparency.blockSignals(False)
        self.keep_transparency.setEnabled(session.document.alpha is not None)

    # -- commands ----------------------------------------------------------------------------

    def change_size(self, direction: int) -> bool:
        """Grow (+1) or shrink (-1) the mask by the step, as one undo step."""
        session = self._model.session
        if session is None or session.document.mask_box() is None:
            return False
        pixels = self.step.value()
        mask = session.document.mask
        new = grow(mask, pixels) if direction > 0 else shrink(mask, pixels)
        label = f"{'Grow' if direction > 0 else 'Shrink'} mask {pixels} px"
        return session.set_mask(new, label)

    def wand(self, x: int, y: int, mode: str) -> bool:
        """Mask the pixels like the one at (x, y): replace the mask, add to it or subtract from it."""
        session = self._model.session
        if session is None:
            return False
        doc = session.document
        if not (0 <= x < doc.width and 0 <= y < doc.height):
            return False
        picked = magic_wand(
            doc.rgb, x, y, tolerance=self.tolerance.value(), contiguous=self.contiguous.isChecked()
        )
        mask = np.asarray(doc.mask)
        new = {"add": mask | picked, "subtract": mask & ~picked}.get(mode, picked)
        words = {"add": "Magic wand (add)", "subtract": "Magic wand (subtract)"}
        return session.set_mask(new, words.get(mode, "Magic wand"))

    def _softness_edited(self) -> None:
        session = self._model.session
        if session is None:
            return
        try:
            session.set_edge_softness(self.softness.value())
        except SessionError as exc:
            show_error(self, "Cannot soften the edge", str(exc))

    def _keep_toggled(self, keep: bool) -> None:
        session = self._model.session
        if session is not None:
            session.keep_transparency = keep
            session.set_run(session.run)  # the pending candidates are shown as they would be applied
