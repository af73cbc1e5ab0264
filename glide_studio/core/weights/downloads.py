"""HTTP transfer of one file into a resumable ``.part`` file, and the lock that guards it.

Only the standard library is used (``urllib``), so downloading adds no
dependency. Every failure becomes a ``StoreError`` whose message is one line
naming the URL and the problem, so that neither the command line nor the
window ever has to show a traceback.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.client import HTTPException, HTTPResponse
from pathlib import Path
from typing import BinaryIO
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

__all__ = [
    "CancelCheck",
    "DownloadBusy",
    "DownloadCancelled",
    "DownloadError",
    "ProgressCallback",
    "StoreError",
    "Transfer",
    "hold_lock",
]

ProgressCallback = Callable[[int, "int | None"], None]
"""Called with (bytes on disk so far, total bytes or None when the server does not say)."""
CancelCheck = Callable[[], bool]
"""Returns True to stop; polled between chunks and while waiting for the lock."""

_CHUNK = 64 * 1024
_USER_AGENT = "glide-studio/0.1 (+urllib)"
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)", re.IGNORECASE)


class StoreError(Exception):
    """Weights cannot be found, fetched or used; the message is meant for the user as is."""


class DownloadError(StoreError):
    """The server or the network failed us; names the URL and what went wrong."""

    def __init__(self, url: str, problem: str) -> None:
        super().__init__(f"cannot download {url}: {problem}")
        self.url = url
        self.problem = problem


class DownloadCancelled(StoreError):
    """The caller asked to stop; whatever arrived stays in the ``.part`` file for resuming."""

    def __init__(self, part: Path) -> None:
        size = part.stat().st_size if part.is_file() else 0
        super().__init__(f"download cancelled; {size} bytes kept in {part} to resume later")
        self.part = part


class DownloadBusy(StoreError):
    """Another process (or thread) is downloading the same file right now."""

    def __init__(self, target: Path) -> None:
        super().__init__(
            f"{target.name} is already being downloaded into {target.parent} by another glide-studio; "
            "wait for it to finish and try again"
        )
        self.target = target


class _ConnectionLost(Exception):
    """The body stopped early; retrying with a Range request can pick it up."""


@dataclass(frozen=True, kw_only=True)
class Transfer:
    """One URL into one ``.part`` file, resuming what the file already holds."""

    url: str
    part: Path
    progress: ProgressCallback | None = None
    cancel: CancelCheck | None = None
    timeout: float = 30.0
    attempts: int = 3

    def run(self) -> None:
        """Fill ``part`` with the whole body; retry (resuming) when the connection drops mid-body."""
        for attempt in range(1, max(1, self.attempts) + 1):
            before = _size(self.part)
            try:
                self._once()
                return
            except _ConnectionLost as exc:
                # Retry only if this attempt moved us forward, so a dead server cannot loop us.
                if attempt >= self.attempts or _size(self.part) <= before:
                    raise DownloadError(
                        self.url, f"{exc}; the partial file is kept, run the download again to resume"
                    ) from exc

    def _once(self) -> None:
        offset = _size(self.part)
        headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            response = urlopen(Request(self.url, headers=headers), timeout=self.timeout)
        except HTTPError as exc:
            with contextlib.closing(exc):
                if exc.code == 416 and offset:
                    self._unsatisfiable(exc.headers.get("Content-Range", ""), offset)
                    return
                reason = f" {exc.reason}" if exc.reason else ""
                raise DownloadError(self.url, f"the server answered HTTP {exc.code}{reason}") from exc
        except URLError as exc:
            raise DownloadError(self.url, _network_problem(exc.reason)) from exc
        except (OSError, HTTPException, ValueError) as exc:
            raise DownloadError(self.url, _network_problem(exc)) from exc
        with response:
            start, total = self._plan(response, offset)
            self._copy(response, start, total)

    def _unsatisfiable(self, content_range: str, offset: int) -> None:
        """HTTP 416: the ``.part`` is already whole, or it is longer than the file and useless."""
        match = _UNSATISFIED_RANGE.match(content_range.strip())
        if match and int(match.group(1)) == offset:
            if self.progress:
                self.progress(offset, offset)
            return
        self.part.unlink(missing_ok=True)
        self._once()

    def _plan(self, response: HTTPResponse, offset: int) -> tuple[int, int | None]:
        """Where the body starts in the file and how long the file is, from the headers."""
        content_type = (response.headers.get("Content-Type") or "").lower()
        if content_type.startswith(("text/html", "application/xhtml")):
            raise DownloadError(self.url, "the server sent a web page (text/html) instead of the file")
        length = _int_or_none(response.headers.get("Content-Length"))
        status = getattr(response, "status", None) or 200
        if status != 206:
            return 0, length  # a full body: the server ignored Range (or there was none)
        match = _CONTENT_RANGE.match((response.headers.get("Content-Range") or "").strip())
        if not match or int(match.group(1)) != offset:
            raise DownloadError(
                self.url, f"the server sent the wrong part of the file (wanted from {offset})"
            )
        total = _int_or_none(match.group(3))
        if total is None and length is not None:
            total = offset + length
        return offset, total

    def _copy(self, response: HTTPResponse, start: int, total: int | None) -> None:
        first = self._read(response, start)
        if start == 0 and first.lstrip()[:1] == b"<":
            raise DownloadError(self.url, "the server sent a web page instead of the file")
        with self.part.open("ab" if start else "wb") as out:
            done = start + self._write(out, first)
            if self.progress:
                self.progress(done, total)
            chunk = first
            while chunk:
                if self.cancel is not None and self.cancel():
                    raise DownloadCancelled(self.part)
                chunk = self._read(response, done)
                done += self._write(out, chunk)
                if chunk and self.progress:
                    self.progress(done, total)
        if total is not None and done < total:
            raise _ConnectionLost(f"the server sent only {done} of {total} bytes")
        if total is not None and done > total:
            self.part.unlink(missing_ok=True)
            raise DownloadError(self.url, f"the server sent {done} bytes but announced {total}")

    def _read(self, response: HTTPResponse, done: int) -> bytes:
        try:
            return response.read(_CHUNK)
        except (OSError, HTTPException) as exc:
            raise _ConnectionLost(f"the connection was lost after {done} bytes ({_brief(exc)})") from exc

    def _write(self, out: BinaryIO, chunk: bytes) -> int:
        try:
            return out.write(chunk)
        except OSError as exc:
            raise StoreError(f"cannot write {self.part}: {exc.strerror or exc}") from exc


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None and text.strip() != "*" else None
    except ValueError:
        return None


def _brief(exc: BaseException) -> str:
    text = str(getattr(exc, "strerror", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _network_problem(reason: object) -> str:
    """A sentence for the usual offline and server-down cases."""
    if isinstance(reason, ConnectionRefusedError):
        return "the connection was refused (is the server or mirror running?)"
    if isinstance(reason, socket.gaierror):
        return "the host name could not be resolved (are you offline?)"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "the connection timed out (are you offline?)"
    if isinstance(reason, BaseException):
        return f"network error ({_brief(reason)})"
    return f"network error ({reason})"


@contextlib.contextmanager
def hold_lock(
    target: Path, *, timeout: float | None, cancel: CancelCheck | None = None, poll: float = 0.1
) -> Iterator[bool]:
    """Hold the exclusive lock ``<target>.lock``; yields whether another holder made us wait.

    ``timeout`` 0 raises ``DownloadBusy`` at once, None waits as long as it
    takes (``cancel`` is still polled). The holder deletes the lock file before
    unlocking, so a waiter that then wins the old file checks that it is still
    the one at the path, and otherwise tries again.
    """
    lock = target.with_name(target.name + ".lock")
    deadline = None if timeout is None else time.monotonic() + timeout
    waited = False
    while (fd := _lock_once(lock)) is None:
        waited = True
        if cancel is not None and cancel():
            raise DownloadCancelled(target.with_name(target.name + ".part"))
        if deadline is not None and time.monotonic() >= deadline:
            raise DownloadBusy(target)
        time.sleep(poll)
    try:
        yield waited
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()  # fails harmlessly on Windows, where open files cannot be removed
        _unlock(fd)
        os.close(fd)


def _lock_once(lock: Path) -> int | None:
    """An open, locked descriptor of the file now at ``lock``, or None while someone holds it."""
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot create the lock file {lock}: {exc.strerror or exc}") from exc
        if not _try_lock(fd):
            os.close(fd)
            return None
        try:
            if os.path.samestat(os.fstat(fd), os.stat(lock)):
                return fd
        except FileNotFoundError:
            pass
        _unlock(fd)  # we won a file its holder already removed: lock the one at the path now
        os.close(fd)


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)
