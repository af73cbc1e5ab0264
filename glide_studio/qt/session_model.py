"""The editing session as widgets see it: the core ``EditingSession`` plus Qt signals.

A thin wrapper: every change happens in the core session, which notifies this
object, which re-emits it as a signal naming the box that changed. Widgets
read the session's state when told and keep none of their own.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

from ..core.editing.document import Document
from ..core.editing.patches import MaskPatch
from ..core.editing.session import Change, ChangeKind, EditingSession
from ..core.editing.sketch import SketchPatch
from ..core.imaging.region import Box

__all__ = ["SessionModel"]


class SessionModel(QObject):
    """Holds at most one session; emits what changed in it."""

    sessionReplaced = Signal()
    """A different session (or none) is open: everything must be rebuilt."""
    imageChanged = Signal(object)
    """Box of the image that changed."""
    maskChanged = Signal(object)
    """Box of the mask that changed."""
    historyChanged = Signal()
    """An undo step was added, undone or redone (undo actions, history list, title)."""
    runChanged = Signal()
    """The run started, got a candidate, ended, was applied or discarded, or its selection moved."""
    savedChanged = Signal()
    promptChanged = Signal()
    canvasResized = Signal()
    """The picture's size changed (canvas extended or shrunk back): rebuild what shows it."""
    sketchChanged = Signal(object)
    """Box of the sketch layer that changed."""
    regionChanged = Signal()
    """The generation area was moved, resized or set back to automatic."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._session: EditingSession | None = None
        self._unsubscribe = lambda: None
        self._signals = {
            ChangeKind.HISTORY: self.historyChanged,
            ChangeKind.RUN: self.runChanged,
            ChangeKind.SAVED: self.savedChanged,
            ChangeKind.PROMPT: self.promptChanged,
            ChangeKind.CANVAS: self.canvasResized,
            ChangeKind.REGION: self.regionChanged,
        }

    @property
    def session(self) -> EditingSession | None:
        return self._session

    @property
    def document(self) -> Document | None:
        return self._session.document if self._session is not None else None

    def set_session(self, session: EditingSession | None) -> None:
        self._unsubscribe()
        self._session = session
        self._unsubscribe = session.subscribe(self._relay) if session is not None else (lambda: None)
        self.sessionReplaced.emit()

    def _relay(self, change: Change) -> None:
        if change.kind is ChangeKind.IMAGE:
            self.imageChanged.emit(change.box)
        elif change.kind is ChangeKind.SKETCH:
            self.sketchChanged.emit(change.box)
        elif change.kind is ChangeKind.MASK:
            self.maskChanged.emit(change.box)
        else:
            self._signals[change.kind].emit()

    def _live(self) -> EditingSession:
        if self._session is None:
            raise RuntimeError("no picture is open")
        return self._session

    # -- mask tools (strokes in progress, then one undo step) -----------------------------

    def paint(self, box: Box, where: np.ndarray, value: bool) -> None:
        self._live().paint(box, where, value)

    def push_mask_patch(self, patch: MaskPatch, label: str, *, applied: bool = True) -> None:
        self._live().push_mask_patch(patch, label, applied=applied)

    def paint_sketch(
        self, box: Box, where: np.ndarray, colour: tuple[int, int, int], weight: np.ndarray | None = None
    ) -> None:
        self._live().paint_sketch(box, where, colour, weight)

    def push_sketch_change(self, sketch: SketchPatch, mask: MaskPatch | None, label: str) -> None:
        self._live().push_sketch_change(sketch, mask, label)
