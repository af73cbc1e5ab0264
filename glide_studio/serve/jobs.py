"""Jobs: every edit the server takes, with an id, a place in the queue and a replayable event log.

The ingress keeps a ``JobBoard``. ``submit`` answers at once (or refuses with 429
when the queue is full) and starts driving the run on a model replica; the run's
events are stored, numbered from 1 (``"n"`` in each line), so that any connection
can follow a job from event N (a client that lost its connection continues where
it was), any connection can cancel it, and a finished job's result stays
fetchable for a while. A preview or a queue position is replaced by the next one
(its number stays, its line is dropped): a job's log costs its candidates, not
its steps. Nothing here needs Ray: the replica is a function returning an async
iterator of NDJSON lines, so the tests drive the board with a fake one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from ..core.generation.request import EditRequest
from ..core.remote.wire import WireError, dumps_line

__all__ = ["Job", "JobBoard", "JobSettings", "QueueFull"]

_log = logging.getLogger("glide_studio.serve")
QUEUED, RUNNING, FINISHED, FAILED, CANCELLED = "queued", "running", "finished", "failed", "cancelled"
_ENDED = frozenset({FINISHED, FAILED, CANCELLED})
_REPLACED = frozenset({"preview", "queued"})


@dataclass(frozen=True, kw_only=True)
class JobSettings:
    """How many jobs may wait, how long a run may take, how long results are kept."""

    max_queue: int = 64
    """Jobs waiting for a replica (running ones not counted); one more is refused with 429."""
    max_seconds: float = 0.0
    """The longest a run may take once started (0: no limit)."""
    keep_results_s: float = 600.0
    max_kept_bytes: int = 512 * 2**20
    """Finished jobs' logs held in memory; the oldest are forgotten first beyond this."""

    def __post_init__(self) -> None:
        if self.max_queue < 0 or self.max_seconds < 0 or self.keep_results_s < 0 or self.max_kept_bytes < 0:
            raise ValueError("queue and job limits cannot be negative")


class QueueFull(WireError):
    """429: the queue holds ``max_queue`` jobs already."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, 429)
        self.retry_after = retry_after


class Job:
    """One edit: its state, its numbered lines and who waits for more."""

    def __init__(self, job_id: str, now: float) -> None:
        self.id = job_id
        self.state = QUEUED
        self.created = now
        self.started: float | None = None
        self.ended: float | None = None
        self.position = 0
        self.lines: list[bytes | None] = []
        self.size = 0
        self.candidates: list[int] = []
        self.reason = ""
        """Why it ended early: "cancelled", or the limit it ran over."""
        self.task: asyncio.Task | None = None
        self._changed = asyncio.Event()
        self._last: dict[str, int] = {}

    @property
    def done(self) -> bool:
        return self.state in _ENDED

    def append(self, line: bytes, kind: str) -> None:
        """Store a line under the next number (a preview or queue position replaces the last one)."""
        number = len(self.lines) + 1
        stored = b'{"n":%d,' % number + line[1:]
        if kind in _REPLACED and kind in self._last:
            old = self._last[kind]
            self.size -= len(self.lines[old] or b"")
            self.lines[old] = None
        if kind in _REPLACED:
            self._last[kind] = len(self.lines)
        self.lines.append(stored)
        self.size += len(stored)
        self._notify()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def follow(self, after: int) -> AsyncIterator[bytes]:
        """Lines numbered above ``after``, then each new one as it comes, until the job ends."""
        index = max(0, after)
        while True:
            changed = self._changed
            while index < len(self.lines):
                line = self.lines[index]
                index += 1
                if line is not None:
                    yield line
            if self.done:
                return
            await changed.wait()

    def summary(self, now: float) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "state": self.state, "events": len(self.lines)}
        if self.state == QUEUED:
            out["position"] = self.position
        out["age_s"] = round(now - self.created, 3)
        if self.started is not None:
            out["running_s"] = round((self.ended or now) - self.started, 3)
        if self.reason:
            out["reason"] = self.reason
        return out


Runner = Callable[[EditRequest, str], AsyncIterator[bytes]]
"""Starts a run on a replica: the request and the job's id, to the run's NDJSON lines."""


class JobBoard:
    """All jobs of one ingress: submit, follow, cancel, forget."""

    def __init__(self, run: Runner, settings: JobSettings, *, clock: Callable[[], float] = time.monotonic):
        self._run = run
        self.settings = settings
        self._clock = clock
        self._jobs: dict[str, Job] = {}
        self._queue: list[Job] = []

    def submit(self, edit: EditRequest) -> Job:
        """Take an edit now (its run starts as soon as a replica is free)."""
        self.sweep()
        if len(self._queue) >= self.settings.max_queue:
            raise QueueFull(
                f"the server's queue is full ({len(self._queue)} edits waiting); try again in a minute",
                retry_after=max(5, min(300, 10 * len(self._queue))),
            )
        job = Job(secrets.token_urlsafe(12), self._clock())
        self._jobs[job.id] = job
        self._queue.append(job)
        self._reposition()
        job.task = asyncio.get_running_loop().create_task(self._drive(job, edit))
        job.task.add_done_callback(lambda _: self._cancelled_before_start(job))
        return job

    def get(self, job_id: str) -> Job:
        self.sweep()
        job = self._jobs.get(job_id)
        if job is None:
            minutes = self.settings.keep_results_s / 60
            raise WireError(f"no job {job_id[:64]!r} here (results are kept for {minutes:g} min)", 404)
        return job

    def cancel(self, job_id: str, reason: str = "cancelled") -> Job:
        """Cancel from any connection: a queued job leaves the queue, a running one stops at its next step."""
        job = self.get(job_id)
        if not job.done and job.task is not None and not job.reason:
            job.reason = reason
            job.task.cancel()
        return job

    def counts(self) -> dict[str, int]:
        running = sum(1 for job in self._jobs.values() if job.state == RUNNING)
        return {
            "queued": len(self._queue),
            "running": running,
            "kept": sum(1 for job in self._jobs.values() if job.done),
            "max_queue": self.settings.max_queue,
        }

    def active(self) -> list[Job]:
        return [job for job in self._jobs.values() if not job.done]

    def holds(self, job_id: str) -> bool:
        """A replica's lease check: is this job still wanted here?"""
        job = self._jobs.get(job_id)
        return job is not None and not job.done and not job.reason

    def sweep(self) -> None:
        """Forget ended jobs older than ``keep_results_s``, then the oldest beyond ``max_kept_bytes``."""
        now = self._clock()
        ended = sorted((j for j in self._jobs.values() if j.ended is not None), key=lambda j: j.ended or 0.0)
        kept = sum(job.size for job in ended)
        for job in ended:
            age = now - (job.ended if job.ended is not None else now)
            if age > self.settings.keep_results_s or kept > self.settings.max_kept_bytes:
                kept -= job.size
                del self._jobs[job.id]

    def _reposition(self) -> None:
        for place, job in enumerate(self._queue, start=1):
            if job.position != place:
                job.position = place
                job.append(dumps_line({"event": "queued", "position": place}), "queued")

    def _leave_queue(self, job: Job) -> None:
        if job in self._queue:
            self._queue.remove(job)
            job.position = 0
            self._reposition()

    async def _drive(self, job: Job, edit: EditRequest) -> None:
        """Run the job on a replica and log its lines; always ends it with one final event."""
        stream = self._run(edit, job.id)
        final: bytes | None = None
        watchdog: asyncio.TimerHandle | None = None
        try:
            async for line in stream:
                kind = _kind(line)
                if kind == "started" and job.state == QUEUED:
                    job.state, job.started = RUNNING, self._clock()
                    self._leave_queue(job)
                    if self.settings.max_seconds > 0:
                        over = f"ran over this server's limit of {self.settings.max_seconds:g} s per edit"
                        watchdog = asyncio.get_running_loop().call_later(
                            self.settings.max_seconds, self.cancel, job.id, over
                        )
                if kind == "candidate":
                    job.candidates.append(_index(line))
                job.append(line, kind)
                if kind in _ENDED:
                    final = line
                    job.state = kind
                    break
            if final is None:
                job.state = FAILED
                job.append(_failed("The run ended without a result."), FAILED)
        except asyncio.CancelledError:
            self._end_early(job)
        except Exception:  # a replica that died, a bug: logged here, short for the client
            _log.exception("job %s failed", job.id)
            job.state = FAILED
            job.append(_failed("The server lost the model replica running this edit; try again."), FAILED)
        finally:
            if watchdog is not None:
                watchdog.cancel()
            await _close(stream)
            job.ended = self._clock()
            self._leave_queue(job)
            job._notify()
            _log.info("job %s %s after %d events", job.id, job.state, len(job.lines))

    def _cancelled_before_start(self, job: Job) -> None:
        """A task cancelled before it ran never entered ``_drive``: end its job here."""
        if not job.done:
            self._end_early(job)
            job.ended = self._clock()
            self._leave_queue(job)
            job._notify()

    def _end_early(self, job: Job) -> None:
        if job.reason and job.reason != "cancelled":
            job.state = FAILED
            job.append(_failed(f"The edit {job.reason}; ask for fewer steps or candidates."), FAILED)
            return
        job.state = CANCELLED
        seconds = self._clock() - (job.started or job.created)
        job.append(
            dumps_line({"event": "cancelled", "seconds": round(seconds, 3), "candidates": job.candidates}),
            CANCELLED,
        )


def _kind(line: bytes) -> str:
    """The event type of a line the replica wrote (``{"event":"KIND",...``), without parsing it all."""
    head = line[:40]
    if head.startswith(b'{"event":"'):
        return head[10:].split(b'"', 1)[0].decode("ascii", "replace")
    try:
        return str(json.loads(line).get("event", ""))
    except (ValueError, AttributeError):
        return ""


def _index(line: bytes) -> int:
    return int(json.loads(line)["index"])


def _failed(message: str) -> bytes:
    return dumps_line({"event": "failed", "message": message})


async def _close(stream: AsyncIterator[bytes]) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        with contextlib.suppress(Exception, asyncio.CancelledError):  # closing a stream that broke
            await close()
