"""The open document as seen by widgets: the core ``Document`` plus change signals.

Every change to the picture or the mask goes through here, so the canvas,
the history panel and the window title learn exactly which box changed and
repaint only that.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

from ..core.editing.document import Document
from ..core.editing.history import AppliedEdit, MaskPatch
from ..core.imaging.region import Box

__all__ = ["DocumentModel"]


class DocumentModel(QObject):
    """Holds at most one document; emits what changed in it."""

    documentReplaced = Signal()
    """A different document (or none) is open: everything must be rebuilt."""
    imageChanged = Signal(object)
    """Box of the image that changed."""
    maskChanged = Signal(object)
    """Box of the mask that changed."""
    editsChanged = Signal()
    """An edit was applied or reverted (history list, title, saved state)."""
    savedChanged = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._document: Document | None = None

    @property
    def document(self) -> Document | None:
        return self._document

    def set_document(self, document: Document | None) -> None:
        self._document = document
        self.documentReplaced.emit()

    def _doc(self) -> Document:
        if self._document is None:
            raise RuntimeError("no document is open")
        return self._document

    # -- mask -----------------------------------------------------------------------------

    def paint(self, box: Box, where: np.ndarray, value: bool) -> None:
        self._doc().paint(box, where, value)
        self.maskChanged.emit(box)

    def apply_mask_patch(self, patch: MaskPatch, *, forward: bool) -> None:
        self._doc().apply_mask_patch(patch, forward=forward)
        self.maskChanged.emit(patch.box)

    def invert_mask(self) -> None:
        doc = self._doc()
        doc.invert_mask()
        self.maskChanged.emit(doc.bounds)

    # -- edits ----------------------------------------------------------------------------

    def apply_edit(self, edit: AppliedEdit, *, forward: bool) -> None:
        doc = self._doc()
        if forward:
            doc.apply_edit(edit)
        else:
            doc.revert_edit(edit)
        self.imageChanged.emit(edit.image.box)
        if edit.mask is not None:
            self.maskChanged.emit(edit.mask.box)
        self.editsChanged.emit()

    def mark_saved(self) -> None:
        self.savedChanged.emit()
