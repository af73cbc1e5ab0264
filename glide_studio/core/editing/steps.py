"""Undo steps: each holds a compact patch (or nothing) and applies itself to a session.

A step is created already applied; ``undo`` and ``redo`` move the session back
and forth. Applying a candidate is one step that also remembers the run it came
from, so that undoing it brings the other candidates back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from .canvas_size import CanvasExtension
from .history import AppliedEdit, MaskPatch
from .run import Run
from .sketch import SketchPatch

if TYPE_CHECKING:
    from .session import EditingSession

__all__ = ["ApplyStep", "ExtendStep", "InvertMaskStep", "MaskStep", "SketchStep", "Step"]


class Step(Protocol):
    label: str

    def undo(self, session: EditingSession) -> None: ...

    def redo(self, session: EditingSession) -> None: ...


class MaskStep:
    """A stroke, shape, clear or select-all."""

    def __init__(self, patch: MaskPatch, label: str) -> None:
        self.patch = patch
        self.label = label

    def undo(self, session: EditingSession) -> None:
        session._apply_mask_patch(self.patch, forward=False)

    def redo(self, session: EditingSession) -> None:
        session._apply_mask_patch(self.patch, forward=True)


class InvertMaskStep:
    """Inverting twice restores the mask, so this step stores nothing."""

    label = "Invert mask"

    def undo(self, session: EditingSession) -> None:
        session._invert_mask()

    def redo(self, session: EditingSession) -> None:
        session._invert_mask()


class SketchStep:
    """A colour stroke: the sketch layer's change and the mask it added."""

    def __init__(self, sketch: SketchPatch, mask: MaskPatch | None, label: str) -> None:
        self.sketch, self.mask, self.label = sketch, mask, label

    def undo(self, session: EditingSession) -> None:
        session._apply_sketch_patch(self.sketch, forward=False)
        if self.mask is not None:
            session._apply_mask_patch(self.mask, forward=False)

    def redo(self, session: EditingSession) -> None:
        session._apply_sketch_patch(self.sketch, forward=True)
        if self.mask is not None:
            session._apply_mask_patch(self.mask, forward=True)


class ExtendStep:
    """The canvas grown for outpainting (the new area masked)."""

    def __init__(self, extension: CanvasExtension) -> None:
        self.extension = extension
        self.label = extension.label

    def undo(self, session: EditingSession) -> None:
        session._resize(self.extension, forward=False)

    def redo(self, session: EditingSession) -> None:
        session._resize(self.extension, forward=True)


class ApplyStep:
    """A candidate committed to the picture, with the run it was picked from (and the sketch it
    cleared, which undo restores)."""

    def __init__(self, edit: AppliedEdit, run: Run | None, sketch: SketchPatch | None = None) -> None:
        self.edit = edit
        self.run = run
        self.sketch = sketch
        prompt = edit.prompt or "(no prompt)"
        self.label = f"Apply “{prompt[:40]}”"

    def undo(self, session: EditingSession) -> None:
        session._apply_edit(self.edit, forward=False)
        if self.sketch is not None:
            session._apply_sketch_patch(self.sketch, forward=False)
        if session.run is None:  # never at the cost of newer candidates (they just became stale)
            session._set_run(self.run)

    def redo(self, session: EditingSession) -> None:
        session._apply_edit(self.edit, forward=True)
        if self.sketch is not None:
            session._apply_sketch_patch(self.sketch, forward=True)
        if session.run is self.run:
            session._set_run(None)
