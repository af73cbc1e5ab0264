"""Autosave and crash recovery.

While the studio runs, its session is written as a project file to the user's
data folder after every apply and at most every 30 s while something changed,
atomically (temporary file, then rename). Beside it a small JSON file
describes it, and a lock file (``fcntl.flock``, held while the process lives)
says that it is owned: the kernel drops the lock when its process dies, so a
reused process id can never hide a crashed session. A clean exit removes all
three; a crash, ``kill -9`` or a power cut leaves them, and the next start
finds them (their lock is free) and offers to restore. A damaged info file
or project is offered as "cannot be restored" (to discard), never an error
that stops the studio from starting; temporary files of killed writes are
swept.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..imaging.safe_write import sweep_temporaries, write_bytes_atomic
from .project import (
    PROJECT_SUFFIX,
    ProjectError,
    ProjectSnapshot,
    load_project,
    snapshot_project,
    write_project,
)
from .session import EditingSession

__all__ = [
    "AUTOSAVE_INTERVAL",
    "DATA_ENV",
    "Autosaver",
    "Recoverable",
    "autosave_folder",
    "data_folder",
    "find_recoverable",
]

DATA_ENV = "GLIDE_STUDIO_DATA"
"""Environment variable naming the per-user data folder (autosaves, recovered results)."""
AUTOSAVE_INTERVAL = 30.0
MAX_CANDIDATE_BYTES = 256 * 1024 * 1024
"""Pending candidates beyond this size are left out of an autosave (the edits never are)."""
MAX_INFO_BYTES = 64 * 1024
LOCK_SUFFIX = ".lock"

try:
    import fcntl
except ImportError:  # Windows: fall back on the process id
    fcntl = None  # type: ignore[assignment]


def data_folder(environ: Mapping[str, str] = os.environ) -> Path:
    import platformdirs  # the per-user folders, looked up only when needed

    return Path(environ.get(DATA_ENV) or platformdirs.user_data_dir("glide-studio", appauthor=False))


def autosave_folder(environ: Mapping[str, str] = os.environ) -> Path:
    return data_folder(environ) / "autosave"


def _alive(pid: int) -> bool:
    """Only for autosaves without a lock file (older versions, or no ``fcntl``)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError, ValueError):
        return True  # exists, owned by someone else (or a pid the system cannot even name)
    return True


def _take_lock(lock: Path) -> int | None:
    """Open and lock ``lock`` without waiting; the descriptor, or None when another holds it."""
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _owned(stem_path: Path, pid: int | None) -> bool:
    """True while the autosave ``stem_path`` (without suffix) belongs to a live session."""
    lock = stem_path.with_name(stem_path.name + LOCK_SUFFIX)
    if fcntl is not None and lock.is_file():
        try:
            fd = _take_lock(lock)
        except OSError:
            return True  # cannot tell: leave it alone
        if fd is None:
            return True
        os.close(fd)
        return False
    return pid is not None and _alive(pid)


@dataclass(frozen=True)
class Recoverable:
    """A session left behind by a process that did not exit cleanly."""

    project: Path
    info: Path
    title: str
    saved_at: float
    edits: int
    problem: str | None = None
    """Why it cannot be restored (a damaged info file or project), or None."""

    def restore(self) -> EditingSession:
        """Load it (raises ``ProjectError``); the files stay until ``discard``."""
        if self.problem is not None:
            raise ProjectError(self.problem)
        session = load_project(self.project)
        session.document.saved_state = -1  # nothing of it is saved anywhere the user chose
        session.document.project_path = None
        return session

    def discard(self) -> None:
        for path in (self.project, self.info, self.info.with_suffix(LOCK_SUFFIX)):
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)


def _read_info(info: Path) -> dict[str, object]:
    """The info file's fields, checked; raises ``ValueError`` saying what is wrong."""
    try:
        if info.stat().st_size > MAX_INFO_BYTES:
            raise ValueError("its description file is too large")
        data = json.loads(info.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"its description file cannot be read ({exc})") from None
    except json.JSONDecodeError:
        raise ValueError("its description file is damaged") from None
    if not isinstance(data, dict):
        raise ValueError("its description file is damaged")
    title, saved_at, edits = data.get("title", "Untitled"), data.get("saved_at", 0.0), data.get("edits", 0)
    if not isinstance(title, str):
        raise ValueError("its description file is damaged (the title)")
    if isinstance(saved_at, bool) or not isinstance(saved_at, int | float) or not 0 <= saved_at < 1e11:
        raise ValueError("its description file is damaged (the time it was saved)")
    if isinstance(edits, bool) or not isinstance(edits, int) or not 0 <= edits < 10**7:
        raise ValueError("its description file is damaged (the number of edits)")
    pid = data.get("pid")
    return {
        "title": title[:200] or "Untitled",
        "saved_at": float(saved_at) if math.isfinite(saved_at) else 0.0,
        "edits": edits,
        "pid": pid if isinstance(pid, int) and not isinstance(pid, bool) and 0 < pid < 2**31 else None,
    }


def find_recoverable(folder: Path) -> list[Recoverable]:
    """Autosaves whose process is gone, newest first. Never raises.

    One whose info file is damaged is still listed, with ``problem`` saying
    why it cannot be restored, so that it can be discarded; temporary files
    left by killed writes are removed on the way.
    """
    found = []
    try:
        infos = sorted(folder.glob("session-*.json")) if folder.is_dir() else []
    except OSError:
        return []
    for info in infos:
        stem = info.with_suffix("")
        project = info.with_suffix(PROJECT_SUFFIX)
        try:
            data: dict[str, object] = _read_info(info)
            problem = None
        except ValueError as exc:
            data = {"title": info.stem, "saved_at": 0.0, "edits": 0, "pid": None}
            problem = f"{info}: this autosave cannot be restored: {exc}"
        pid = data["pid"]
        if _owned(stem, pid if isinstance(pid, int) else None):
            continue
        if problem is None and not project.is_file():
            problem = f"{project}: this autosave cannot be restored: its project file is missing"
        found.append(
            Recoverable(
                project=project,
                info=info,
                title=str(data["title"]),
                saved_at=float(data["saved_at"]),  # type: ignore[arg-type]
                edits=int(data["edits"]),  # type: ignore[call-overload]
                problem=problem,
            )
        )
    sweep_autosave_temporaries(folder)
    return sorted(found, key=lambda r: r.saved_at, reverse=True)


def sweep_autosave_temporaries(folder: Path) -> int:
    """Remove temporary files of autosaves whose session is gone; returns how many."""

    def dead(target: str) -> bool:
        stem = target.split(".", 1)[0]
        return stem.startswith("session-") and not _owned(folder / stem, None)

    return sweep_temporaries(folder, dead=dead) if folder.is_dir() else 0


class Autosaver:
    """Writes one session's autosave; call ``tick`` often, and with ``force`` after an apply."""

    def __init__(
        self,
        *,
        folder: Path,
        interval: float = AUTOSAVE_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        pid: int | None = None,
        synchronous: bool = False,
    ) -> None:
        self.folder = folder
        self.interval = interval
        self._clock = clock
        self._pid = os.getpid() if pid is None else pid
        stem = f"session-{self._pid}-{int(time.time() * 1000) % 10**9}"
        self.project = folder / f"{stem}{PROJECT_SUFFIX}"
        self.info = folder / f"{stem}.json"
        self.lock = folder / f"{stem}{LOCK_SUFFIX}"
        self._lock_fd: int | None = None
        self._owner = pid is None or pid == os.getpid()
        """Hold the lock (a real session); False when ``pid`` plays another process (tests)."""
        self._saved_revision: tuple[int, int] | None = None
        self._last = -float("inf")
        self.error: str | None = None
        """Why the last autosave failed (shown once by the window), or None."""
        self._writer: threading.Thread | None = None
        self._synchronous = synchronous
        """Write before returning (scripts and tests); the window writes in the background."""

    def tick(self, session: EditingSession | None, *, force: bool = False) -> bool:
        """Save if something changed and the interval has passed (or ``force``); True if written."""
        if session is None:
            return False
        key = (id(session), session.revision)
        if key == self._saved_revision:
            return False
        if not session.modified and not session.pending_candidates and session.document.mask_box() is None:
            self.remove()  # nothing that could be lost
            self._saved_revision = key
            return False
        if not force and self._clock() - self._last < self.interval:
            return False
        return self._write(session, key)

    def _write(self, session: EditingSession, key: tuple[int, int]) -> bool:
        """Snapshot now (cheap), encode and write on a background thread (seconds for a big photo)."""
        if self._writer is not None and self._writer.is_alive():
            return False  # the previous autosave is still being written; the next tick retries
        run = session.run
        heavy = run is not None and sum(c.patch.nbytes for c in run.candidates) > MAX_CANDIDATE_BYTES
        snapshot = snapshot_project(session, include_candidates=not heavy)
        doc = session.document
        info = {
            "pid": self._pid,
            "title": doc.title,
            "source": str(doc.path) if doc.path is not None else None,
            "saved_at": time.time(),
            "edits": len(doc.edits),
        }
        self._saved_revision = key
        self._last = self._clock()
        self._writer = threading.Thread(target=self._write_files, args=(snapshot, info), daemon=True)
        self._writer.start()
        if self._synchronous:
            self.wait()
        return True

    def _hold_lock(self) -> None:
        if self._lock_fd is not None or not self._owner or fcntl is None:
            return
        fd = _take_lock(self.lock)
        if fd is None:
            raise OSError(f"{self.lock} is locked by another process")
        self._lock_fd = fd

    def _write_files(self, snapshot: ProjectSnapshot, info: dict[str, object]) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._hold_lock()
            sweep_autosave_temporaries(self.folder)
            write_project(snapshot, self.project)
            write_bytes_atomic(self.info, json.dumps(info).encode("utf-8"))
        except Exception as exc:  # a background thread: report, never die with a traceback
            self.error = f"Autosave failed ({self._problem(exc)}); save your work by hand."
            self._saved_revision = None  # try again at the next tick
            return
        self.error = None

    def _problem(self, exc: Exception) -> str:
        for folder in (self.folder, *self.folder.parents):
            if folder.exists() or folder.is_symlink():
                if not folder.is_dir():
                    return f"{folder} is a file, not a folder"
                break
        if isinstance(exc, OSError):
            return f"{self.folder}: {exc.strerror or exc}"
        return f"{self.folder}: {exc}"

    def wait(self, timeout: float | None = None) -> None:
        """Until the autosave being written (if any) is on disk."""
        if self._writer is not None:
            self._writer.join(timeout)

    def remove(self) -> None:
        """A clean exit (or nothing left to lose): no autosave stays behind. Never raises."""
        self.wait()
        for path in (self.project, self.info, self.lock):
            if path == self.lock and self._lock_fd is None:
                continue
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None
