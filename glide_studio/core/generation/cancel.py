"""Stopping a run: a token the caller sets and the running code checks.

The token is checked between sampling steps and, inside a step, between the
model's blocks, so a run stops within one block's time however slow a whole
step is. Checking is one flag read: no device synchronisation.
"""

from __future__ import annotations

import threading

__all__ = ["CancelToken", "RunCancelled"]


class RunCancelled(Exception):
    """Raised inside a run when its token is set; the pipeline turns it into a ``Cancelled`` event."""


class CancelToken:
    """A one-way flag shared between the thread that cancels and the thread that runs."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise RunCancelled()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until cancelled or ``timeout`` passes; True when cancelled."""
        return self._event.wait(timeout)
