"""Autosave and crash recovery.

While the studio runs, its session is written as a project file to the user's
data folder after every apply and at most every 30 s while something changed,
atomically (temporary file, then rename). Beside it a small JSON file names
the process that owns it. A clean exit removes both; a crash, ``kill -9`` or a
power cut leaves them, and the next start finds them (their process is gone)
and offers to restore.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .project import PROJECT_SUFFIX, ProjectSnapshot, load_project, snapshot_project, write_project
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


def data_folder(environ: Mapping[str, str] = os.environ) -> Path:
    import platformdirs  # the per-user folders, looked up only when needed

    return Path(environ.get(DATA_ENV) or platformdirs.user_data_dir("glide-studio", appauthor=False))


def autosave_folder(environ: Mapping[str, str] = os.environ) -> Path:
    return data_folder(environ) / "autosave"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else
    return True


@dataclass(frozen=True)
class Recoverable:
    """A session left behind by a process that did not exit cleanly."""

    project: Path
    info: Path
    title: str
    saved_at: float
    edits: int

    def restore(self) -> EditingSession:
        """Load it (raises ``ProjectError``); the files stay until ``discard``."""
        session = load_project(self.project)
        session.document.saved_state = -1  # nothing of it is saved anywhere the user chose
        session.document.project_path = None
        return session

    def discard(self) -> None:
        self.project.unlink(missing_ok=True)
        self.info.unlink(missing_ok=True)


def find_recoverable(folder: Path) -> list[Recoverable]:
    """Autosaves whose process is gone, newest first (damaged info files are skipped)."""
    found = []
    for info in folder.glob("session-*.json") if folder.is_dir() else ():
        try:
            data = json.loads(info.read_text(encoding="utf-8"))
            pid = int(data["pid"])
            project = info.with_suffix(PROJECT_SUFFIX)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _alive(pid) or not project.is_file():
            continue
        found.append(
            Recoverable(
                project=project,
                info=info,
                title=str(data.get("title", "Untitled")),
                saved_at=float(data.get("saved_at", 0.0)),
                edits=int(data.get("edits", 0)),
            )
        )
    return sorted(found, key=lambda r: r.saved_at, reverse=True)


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

    def _write_files(self, snapshot: ProjectSnapshot, info: dict[str, object]) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_project(snapshot, self.project)
            tmp = self.info.with_name(f".{self.info.name}.saving")
            tmp.write_text(json.dumps(info), encoding="utf-8")
            os.replace(tmp, self.info)
        except OSError as exc:
            self.error = f"Autosave failed ({self.folder}: {exc.strerror or exc}); save your work by hand."
            self._saved_revision = None  # try again at the next tick
            return
        self.error = None

    def wait(self, timeout: float | None = None) -> None:
        """Until the autosave being written (if any) is on disk."""
        if self._writer is not None:
            self._writer.join(timeout)

    def remove(self) -> None:
        """A clean exit (or nothing left to lose): no autosave stays behind."""
        self.wait()
        self.project.unlink(missing_ok=True)
        self.info.unlink(missing_ok=True)
