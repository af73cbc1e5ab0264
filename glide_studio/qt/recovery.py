"""Autosave while the window is open, and the offer to restore after a crash.

The core ``Autosaver`` decides when to write; this wires it to a timer, to
applied edits and to a clean exit, and asks the user what to do with work a
crashed session left behind: restore it, discard it, or decide later.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QMessageBox, QWidget

from ..core.editing.autosave import Autosaver, Recoverable, find_recoverable
from ..core.editing.project import ProjectError
from .dialogs import show_error
from .session_model import SessionModel

__all__ = ["RecoveryController", "ask_discard_damaged", "ask_restore"]

TICK_MS = 5_000


def ask_restore(parent: QWidget | None, found: Recoverable) -> str:
    """'restore', 'discard' or 'later' for one session a crash left behind."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Restore your work?")
    when = time.strftime("%d %b %Y, %H:%M", time.localtime(found.saved_at))
    box.setText(f"GLIDE Studio did not close properly while “{found.title}” was open.")
    box.setInformativeText(
        f"The work autosaved at {when} ({found.edits} applied edit(s), the mask, the prompt and any "
        "candidates) can be restored now."
    )
    restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
    discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(restore)
    box.exec()
    clicked = box.clickedButton()
    return "restore" if clicked is restore else "discard" if clicked is discard else "later"


def ask_discard_damaged(parent: QWidget | None, found: Recoverable, problem: str) -> str:
    """'discard' or 'later' for an autosave that cannot be restored (damaged files)."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Autosave cannot be restored")
    box.setText(f"Work that GLIDE Studio autosaved (“{found.title}”) cannot be restored.")
    box.setInformativeText(problem)
    discard = box.addButton("Discard it", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton("Keep it for now", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(discard)
    box.exec()
    return "discard" if box.clickedButton() is discard else "later"


class RecoveryController(QObject):
    def __init__(self, *, model: SessionModel, folder: Path, parent: QWidget) -> None:
        super().__init__(parent)
        self._model, self._parent, self.folder = model, parent, folder
        self.autosaver = Autosaver(folder=folder)
        self._timer = QTimer(self, interval=TICK_MS)
        self._timer.timeout.connect(self.tick)
        self._timer.start()
        self._warned = False

    def tick(self, *, force: bool = False) -> bool:
        written = self.autosaver.tick(self._model.session, force=force)
        if self.autosaver.error and not self._warned:
            self._warned = True
            show_error(self._parent, "Autosave failed", self.autosaver.error)
        return written

    def saved_now(self) -> None:
        """After an apply: the edit is worth writing at once."""
        self.tick(force=True)

    def clean_exit(self) -> None:
        self._timer.stop()
        self.autosaver.remove()

    def offer_restore(self, replace: object) -> bool:
        """Ask about each session left behind; ``replace(session)`` opens a restored one.

        A damaged autosave is offered to discard, with the reason; nothing here
        stops the studio from starting.
        """
        for found in find_recoverable(self.folder):
            if found.problem is not None:
                if ask_discard_damaged(self._parent, found, found.problem) == "discard":
                    found.discard()
                continue
            answer = ask_restore(self._parent, found)
            if answer == "later":
                continue
            if answer == "restore":
                try:
                    session = found.restore()
                except ProjectError as exc:
                    if ask_discard_damaged(self._parent, found, str(exc)) == "discard":
                        found.discard()
                    continue
                replace(session)  # type: ignore[operator]
                found.discard()
                self.tick(force=True)
                return True
            found.discard()
        return False
