"""Undo steps. Each holds only a compact patch (or nothing) and calls the document model."""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand

from ..core.editing.history import AppliedEdit, MaskPatch
from .document_model import DocumentModel

__all__ = ["ApplyEditCommand", "InvertMaskCommand", "MaskPatchCommand"]


class MaskPatchCommand(QUndoCommand):
    """A stroke, shape, clear or select-all. Already applied when pushed, so the first redo is skipped."""

    def __init__(self, model: DocumentModel, patch: MaskPatch, text: str, *, applied: bool = True) -> None:
        super().__init__(text)
        self._model = model
        self.patch = patch
        self._skip_redo = applied

    def redo(self) -> None:
        if self._skip_redo:
            self._skip_redo = False
            return
        self._model.apply_mask_patch(self.patch, forward=True)

    def undo(self) -> None:
        self._model.apply_mask_patch(self.patch, forward=False)


class InvertMaskCommand(QUndoCommand):
    """Inverting twice restores the mask, so this step stores nothing."""

    def __init__(self, model: DocumentModel) -> None:
        super().__init__("Invert mask")
        self._model = model

    def redo(self) -> None:
        self._model.invert_mask()

    def undo(self) -> None:
        self._model.invert_mask()


class ApplyEditCommand(QUndoCommand):
    """Commit a candidate: new pixels in and the mask cleared, as one step (undo brings both back)."""

    def __init__(self, model: DocumentModel, edit: AppliedEdit) -> None:
        prompt = edit.prompt or "(no prompt)"
        super().__init__(f"Apply “{prompt[:40]}”")
        self._model = model
        self.edit = edit

    def redo(self) -> None:
        self._model.apply_edit(self.edit, forward=True)

    def undo(self) -> None:
        self._model.apply_edit(self.edit, forward=False)
