"""The undo history: a list of steps and a position in it.

Steps after the position are undone and stay listed until a new step replaces
them; the oldest steps fall off past a limit (their patches are small, but a
day of strokes adds up).
"""

from __future__ import annotations

from collections.abc import Sequence

from .undo_steps import StepTarget, UndoStep

__all__ = ["UndoHistory"]


class UndoHistory:
    def __init__(self, *, limit: int = 500) -> None:
        self._steps: list[UndoStep] = []
        self._index = 0
        self._limit = limit

    @property
    def steps(self) -> Sequence[UndoStep]:
        return tuple(self._steps)

    @property
    def index(self) -> int:
        """How many steps are applied (the position between undone and applied steps)."""
        return self._index

    @property
    def can_undo(self) -> bool:
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        return self._index < len(self._steps)

    @property
    def undo_label(self) -> str:
        return self._steps[self._index - 1].label if self.can_undo else ""

    @property
    def redo_label(self) -> str:
        return self._steps[self._index].label if self.can_redo else ""

    def push(self, step: UndoStep) -> None:
        """Add an already-applied step; the undone steps after the position are dropped."""
        del self._steps[self._index :]
        self._steps.append(step)
        if len(self._steps) > self._limit:
            del self._steps[0]
        self._index = len(self._steps)

    def undo(self, target: StepTarget) -> bool:
        if not self.can_undo:
            return False
        self._index -= 1
        self._steps[self._index].undo(target)
        return True

    def redo(self, target: StepTarget) -> bool:
        if not self.can_redo:
            return False
        self._steps[self._index].redo(target)
        self._index += 1
        return True

    def clear(self) -> None:
        self._steps.clear()
        self._index = 0
