"""Undo steps: each holds a compact patch (or nothing) and applies itself to a target.

A step is created already applied; ``undo`` and ``redo`` move the target back
and forth. Applying a candidate is one step that also remembers the run it came
from, so that undoing it brings the other candidates back. Steps see the
session only through ``StepTarget``, the few primitive changes they need.
"""

from __future__ import annotations

from typing import Protocol

from .canvas_size import CanvasExtension
from .patches import AppliedEdit, MaskPatch
from .run import Run
from .sketch import SketchPatch

__all__ = [
    "ApplyStep",
    "EdgeSoftnessStep",
    "ExtendStep",
    "InvertMaskStep",
    "MaskStep",
    "SketchStep",
    "StepTarget",
    "UndoStep",
]


class StepTarget(Protocol):
    """What an undo step may change (``EditingSession`` implements it)."""

    @property
    def run(self) -> Run | None: ...

    def set_run(self, run: Run | None) -> None: ...

    def apply_mask_patch(self, patch: MaskPatch, *, forward: bool) -> None: ...

    def apply_sketch_patch(self, patch: SketchPatch, *, forward: bool) -> None: ...

    def invert_mask_now(self) -> None: ...

    def resize(self, extension: CanvasExtension, *, forward: bool) -> None: ...

    def set_edge_softness_now(self, pixels: int) -> None: ...

    def apply_edit(self, edit: AppliedEdit, *, forward: bool) -> None: ...


class UndoStep(Protocol):
    label: str

    def undo(self, target: StepTarget) -> None: ...

    def redo(self, target: StepTarget) -> None: ...


class MaskStep:
    """A stroke, shape, clear or select-all."""

    def __init__(self, patch: MaskPatch, label: str) -> None:
        self.patch = patch
        self.label = label

    def undo(self, target: StepTarget) -> None:
        target.apply_mask_patch(self.patch, forward=False)

    def redo(self, target: StepTarget) -> None:
        target.apply_mask_patch(self.patch, forward=True)


class InvertMaskStep:
    """Inverting twice restores the mask, so this step stores nothing."""

    label = "Invert mask"

    def undo(self, target: StepTarget) -> None:
        target.invert_mask_now()

    def redo(self, target: StepTarget) -> None:
        target.invert_mask_now()


class SketchStep:
    """A colour stroke: the sketch layer's change and the mask it added."""

    def __init__(self, sketch: SketchPatch, mask: MaskPatch | None, label: str) -> None:
        self.sketch, self.mask, self.label = sketch, mask, label

    def undo(self, target: StepTarget) -> None:
        target.apply_sketch_patch(self.sketch, forward=False)
        if self.mask is not None:
            target.apply_mask_patch(self.mask, forward=False)

    def redo(self, target: StepTarget) -> None:
        target.apply_sketch_patch(self.sketch, forward=True)
        if self.mask is not None:
            target.apply_mask_patch(self.mask, forward=True)


class EdgeSoftnessStep:
    """The mask's soft edge (feather) changed: the old and new width in pixels."""

    def __init__(self, before: int, after: int) -> None:
        self.before, self.after = before, after
        self.label = f"Soft edge {after} px"

    def undo(self, target: StepTarget) -> None:
        target.set_edge_softness_now(self.before)

    def redo(self, target: StepTarget) -> None:
        target.set_edge_softness_now(self.after)


class ExtendStep:
    """The canvas grown for outpainting (the new area masked)."""

    def __init__(self, extension: CanvasExtension) -> None:
        self.extension = extension
        self.label = extension.label

    def undo(self, target: StepTarget) -> None:
        target.resize(self.extension, forward=False)

    def redo(self, target: StepTarget) -> None:
        target.resize(self.extension, forward=True)


class ApplyStep:
    """A candidate committed to the picture, with the run it was picked from (and the sketch it
    cleared, which undo restores)."""

    def __init__(self, edit: AppliedEdit, run: Run | None, sketch: SketchPatch | None = None) -> None:
        self.edit = edit
        self.run = run
        self.sketch = sketch
        prompt = edit.prompt or "(no prompt)"
        self.label = f"Apply “{prompt[:40]}”"

    def undo(self, target: StepTarget) -> None:
        target.apply_edit(self.edit, forward=False)
        if self.sketch is not None:
            target.apply_sketch_patch(self.sketch, forward=False)
        if target.run is None:  # never at the cost of newer candidates (they just became stale)
            target.set_run(self.run)

    def redo(self, target: StepTarget) -> None:
        target.apply_edit(self.edit, forward=True)
        if self.sketch is not None:
            target.apply_sketch_patch(self.sketch, forward=True)
        if target.run is self.run:
            target.set_run(None)
