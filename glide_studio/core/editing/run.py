"""The current run: its request, the candidates that arrived, the selection, and how it ended.

Held once, here, in the editing session; the window's strip and canvas only
draw it. Candidates are patches of their box (``generation.events.Candidate``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from ..generation.events import Candidate, Started
from ..generation.request import EditRequest
from ..imaging.region import Box

__all__ = ["Run", "RunStatus"]


class RunStatus(Enum):
    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(eq=False)
class Run:
    request: EditRequest
    image_state: int
    """The document's image state the request was made from (see ``Document.image_state``)."""
    model: str = ""
    status: RunStatus = RunStatus.RUNNING
    started: Started | None = None
    candidates: list[Candidate] = field(default_factory=list)
    selected: int = 0
    message: str = ""
    """Why it failed, for the user."""

    @property
    def running(self) -> bool:
        return self.status is RunStatus.RUNNING

    @property
    def box(self) -> Box | None:
        """The square the model sees (known once the run has started)."""
        return self.started.box if self.started is not None else None

    @property
    def expected(self) -> int:
        return self.request.candidates

    def candidate(self, index: int) -> Candidate | None:
        for cand in self.candidates:
            if cand.index == index:
                return cand
        return None

    @property
    def selected_candidate(self) -> Candidate | None:
        return self.candidate(self.selected)

    @property
    def applicable(self) -> bool:
        """Finished runs and stopped runs that kept some candidates can be applied from."""
        return not self.running and bool(self.candidates)
