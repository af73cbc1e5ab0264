"""HTTP transfer of one file into a resumable ``.part`` file, and the lock that guards it.

Only the standard library is used (``urllib``), so downloading adds no
dependency. Every failure becomes a ``StoreError`` whose message is one line
naming the URL and the problem, so that neither the command line nor the
window ever has to show a traceback.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.client import HTTPException, HTTPResponse
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from ..imaging.safe_write import write_bytes_atomic

__all__ = [
    "CancelCheck",
    "DownloadBusy",
    "DownloadCancelled",
    "DownloadError",
    "Fetched",
    "ProgressCallback",
    "StoreError",
    "Transfer",
    "hold_lock",
    "human_size",
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


class _Restart(Exception):
    """The ``.part`` holds bytes of another version of the file: start over."""


@dataclass(frozen=True)
class Fetched:
    """What arrived: the facts recorded in the sidecar manifest beside the file."""

    url: str
    size: int
    sha256: str
    validator: str | None
    """The server's ETag or Last-Modified for this version of the file."""


@dataclass
class _Resume:
    """The ``<file>.part.json`` record that makes a resume safe: which version the bytes are of."""

    url: str
    validator: str | None
    size: int | None
    md5: str | None = None
    """The server's Content-MD5 of the whole file (base64), when it sent one."""

    @classmethod
    def read(cls, path: Path) -> _Resume | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(str(data["url"]), data.get("validator"), data.get("size"), data.get("md5"))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write(self, path: Path) -> None:
        text = json.dumps({"url": self.url, "validator": self.validator, "size": self.size, "md5": self.md5})
        try:
            _write_text_atomically(path, text)
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {_os_problem(exc)}") from exc


class _Digest:
    """SHA-256 and MD5 of the bytes on disk, kept up to date while they are written."""

    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    @classmethod
    def of_file(cls, path: Path, *, cancel: CancelCheck | None = None) -> _Digest:
        digest = cls()
        with contextlib.suppress(FileNotFoundError), path.open("rb") as f:
            while chunk := f.read(1 << 20):
                if cancel is not None and cancel():
                    raise DownloadCancelled(path)
                digest.update(chunk)
        return digest

    def update(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        self.md5.update(chunk)
        self.size += len(chunk)


@dataclass(frozen=True, kw_only=True)
class Transfer:
    """One URL into one ``.part`` file, resuming what the file already holds.

    A resume sends ``If-Range`` with the validator (ETag or Last-Modified) of
    the response the ``.part`` started from, so a file that changed on the
    server comes back whole and the download starts over; without a validator
    there is no safe resume and the download starts over too. The free space
    is checked against what remains to arrive before any byte is written, and
    ``run`` returns the size and SHA-256 of the whole file for its manifest.
    """

    url: str
    part: Path
    progress: ProgressCallback | None = None
    cancel: CancelCheck | None = None
    timeout: float = 30.0
    attempts: int = 3

    @property
    def state_path(self) -> Path:
        return self.part.with_name(self.part.name + ".json")

    def run(self) -> Fetched:
        """Fill ``part`` with the whole body; retry (resuming) when the connection drops mid-body."""
        for attempt in range(1, max(1, self.attempts) + 1):
            before = _size(self.part)
            try:
                return self._once()
            except _ConnectionLost as exc:
                # Retry only if this attempt moved us forward, so a dead server cannot loop us.
                if attempt >= self.attempts or _size(self.part) <= before:
                    raise DownloadError(
                        self.url, f"{exc}; the partial file is kept, run the download again to resume"
                    ) from exc
        raise AssertionError("unreachable")

    def discard(self) -> None:
        """Remove the ``.part`` and its resume record (their bytes are of no use)."""
        self.part.unlink(missing_ok=True)
        self.state_path.unlink(missing_ok=True)

    def _once(self) -> Fetched:
        resume = self._resumable()
        offset = _size(self.part) if resume else 0
        headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
        if offset and resume is not None and resume.validator:
            headers["Range"] = f"bytes={offset}-"
            headers["If-Range"] = resume.validator
        try:
            response = urlopen(Request(self.url, headers=headers), timeout=self.timeout)
        except HTTPError as exc:
            with contextlib.closing(exc):
                if exc.code == 416 and offset and resume is not None:
                    return self._unsatisfiable(exc.headers.get("Content-Range", ""), offset, resume)
                reason = f" {exc.reason}" if exc.reason else ""
                raise DownloadError(self.url, f"the server answered HTTP {exc.code}{reason}") from exc
        except URLError as exc:
            raise DownloadError(self.url, _network_problem(exc.reason)) from exc
        except (OSError, HTTPException, ValueError) as exc:
            raise DownloadError(self.url, _network_problem(exc)) from exc
        with response:
            try:
                start, resume = self._plan(response, offset, resume)
            except _Restart:
                self.discard()
                return self._once()
            try:
                digest = _Digest.of_file(self.part, cancel=self.cancel) if start else _Digest()
                self._check_space(resume.size, start)
                self._copy(response, digest, resume.size)
            except BaseException:
                if not _size(self.part):
                    self.discard()  # refused before a byte arrived: no resume record for nothing
                raise
        return self._finish(digest, resume)

    def _resumable(self) -> _Resume | None:
        """The record of the ``.part`` on disk, or None (and no ``.part``) when it cannot be resumed."""
        resume = _Resume.read(self.state_path)
        if resume is not None and resume.url == self.url and resume.validator and _size(self.part):
            return resume
        self.discard()  # bytes of an unknown version of the file (or from another server)
        return None

    def _unsatisfiable(self, content_range: str, offset: int, resume: _Resume) -> Fetched:
        """HTTP 416: the ``.part`` is already whole, or it is longer than the file and useless."""
        match = _UNSATISFIED_RANGE.match(content_range.strip())
        if match and int(match.group(1)) == offset == resume.size:
            if self.progress:
                self.progress(offset, offset)
            return self._finish(_Digest.of_file(self.part, cancel=self.cancel), resume)
        self.discard()
        return self._once()

    def _plan(self, response: HTTPResponse, offset: int, resume: _Resume | None) -> tuple[int, _Resume]:
        """Where the body starts in the file, and the record of the version it belongs to."""
        content_type = (response.headers.get("Content-Type") or "").lower()
        if content_type.startswith(("text/html", "application/xhtml")):
            raise DownloadError(self.url, "the server sent a web page (text/html) instead of the file")
        length = _int_or_none(response.headers.get("Content-Length"))
        validator = response.headers.get("ETag") or response.headers.get("Last-Modified")
        status = getattr(response, "status", None) or 200
        if status != 206 or resume is None:
            # A whole body: a first request, a server that ignores Range, or (If-Range) a new version.
            fresh = _Resume(self.url, validator, length, response.headers.get("Content-MD5"))
            self.discard()
            fresh.write(self.state_path)
            return 0, fresh
        match = _CONTENT_RANGE.match((response.headers.get("Content-Range") or "").strip())
        if not match or int(match.group(1)) != offset:
            raise DownloadError(
                self.url, f"the server sent the wrong part of the file (wanted from {offset})"
            )
        total = _int_or_none(match.group(3))
        if total is None and length is not None:
            total = offset + length
        changed = (validator and validator != resume.validator) or (
            None not in (total, resume.size) and total != resume.size
        )
        if changed:
            raise _Restart  # a server that ignored If-Range but sent another version's bytes
        if resume.size is None and total is not None:
            resume.size = total
            resume.write(self.state_path)
        return offset, resume

    def _check_space(self, total: int | None, start: int) -> None:
        if total is None:
            return
        needed = total - start
        folder = self.part.parent
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            return  # cannot tell: let a write fail with its own clear message
        if free < needed:
            raise StoreError(
                f"not enough free space in {folder}: {self.part.name.removesuffix('.part')} needs "
                f"{human_size(needed)} more, only {human_size(free)} is free"
            )

    def _copy(self, response: HTTPResponse, digest: _Digest, total: int | None) -> None:
        start = digest.size
        first = self._read(response, start)
        if start == 0 and first.lstrip()[:1] == b"<":
            self.discard()
            raise DownloadError(self.url, "the server sent a web page instead of the file")
        fd = self._open(start)
        try:
            chunk = first
            while chunk:
                self._write(fd, chunk, digest)
                if self.progress:
                    self.progress(digest.size, total)
                if self.cancel is not None and self.cancel():
                    raise DownloadCancelled(self.part)
                chunk = self._read(response, digest.size)
        finally:
            os.close(fd)
        if total is not None and digest.size < total:
            raise _ConnectionLost(f"the server sent only {digest.size} of {total} bytes")
        if total is not None and digest.size > total:
            self.discard()
            raise DownloadError(self.url, f"the server sent {digest.size} bytes but announced {total}")

    def _open(self, start: int) -> int:
        flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_BINARY", 0)
        try:
            fd = os.open(self.part, flags, 0o644)
            os.ftruncate(fd, start)
            os.lseek(fd, start, os.SEEK_SET)
        except OSError as exc:
            raise StoreError(f"cannot write {self.part}: {_os_problem(exc)}") from exc
        return fd

    def _read(self, response: HTTPResponse, done: int) -> bytes:
        try:
            return response.read(_CHUNK)
        except (OSError, HTTPException) as exc:
            raise _ConnectionLost(f"the connection was lost after {done} bytes ({_brief(exc)})") from exc

    def _write(self, fd: int, chunk: bytes, digest: _Digest) -> None:
        """Write all of ``chunk``; on failure cut the file back to the bytes already hashed."""
        try:
            _write_all(fd, chunk)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, digest.size)
            kept = f"; the {digest.size} bytes before it are kept in {self.part} to resume later"
            raise StoreError(f"cannot write {self.part}: {_os_problem(exc)}{kept}") from exc
        digest.update(chunk)

    def _finish(self, digest: _Digest, resume: _Resume) -> Fetched:
        """Check the whole file against what the server announced."""
        if resume.size is not None and digest.size != resume.size:
            self.discard()
            raise DownloadError(self.url, f"got {digest.size} bytes, the server announced {resume.size}")
        if resume.md5:
            sent = base64.b64encode(digest.md5.digest()).decode("ascii")
            if sent != resume.md5.strip():
                self.discard()
                raise DownloadError(self.url, "the file does not match the server's Content-MD5 (corrupted)")
        return Fetched(self.url, digest.size, digest.sha256.hexdigest(), resume.validator)


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until everything is written (it may write less than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _write_text_atomically(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def _os_problem(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full (no space left on device)"
    return str(exc.strerror or exc)


def human_size(size: float) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


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
