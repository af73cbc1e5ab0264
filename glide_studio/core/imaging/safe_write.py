"""Writing a file so that a crash, a full disk or a planted link never costs a byte.

Every file this program writes (results, saved pictures, projects, autosaves,
weight manifests) is first written to a new temporary file made exclusively
(``mkstemp``: ``O_CREAT | O_EXCL``, an unpredictable name) in the target's own
folder, then renamed over the target. A symbolic link or any other file
planted at a name on the way is therefore never written through: the
temporary name cannot be guessed in advance, and the rename replaces a link
at the target itself rather than the file it points to.

Temporary names are ``.NAME.XXXXXXXX.saving``; a process killed mid-write
leaves one behind, which ``sweep_temporaries`` removes later.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["TEMP_SUFFIX", "atomic_write", "sweep_temporaries", "temporary_owner", "write_bytes_atomic"]

TEMP_SUFFIX = ".saving"
STALE_SECONDS = 3600.0
"""A temporary file this old is a dead process's leftover (a write takes seconds)."""
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.saving$")
_LEGACY_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.saving$")
"""``.NAME.saving``: the fixed name earlier versions used (a killed write left it behind)."""


def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_MODE = _file_mode()
"""What ``open(..., "w")`` would give a new file (``mkstemp`` makes them private)."""


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[BinaryIO]:
    """``with atomic_write(path) as fh: fh.write(...)``: ``path`` is replaced only once all is written.

    Raises ``OSError`` when the folder cannot be written; on any failure the
    temporary file is removed and an existing ``path`` is left untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent or ".")
    try:
        if hasattr(os, "fchmod"):  # POSIX; not every file system has modes
            with contextlib.suppress(OSError):
                os.fchmod(fd, _MODE)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            with contextlib.suppress(OSError):
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    with atomic_write(path) as handle:
        handle.write(data)
    return Path(path)


def _literal(name: str) -> str:
    """``name`` as a glob pattern matching only itself (a file name may hold ``*?[]``)."""
    return "".join(f"[{ch}]" if ch in "*?[]" else ch for ch in name)


def temporary_owner(temp: Path) -> str | None:
    """The name of the file a temporary file was being written for (None: not one of ours)."""
    match = _TEMP_NAME.match(temp.name) or _LEGACY_TEMP_NAME.match(temp.name)
    return match.group("name") if match else None


def sweep_temporaries(
    folder: Path,
    *,
    name: str | None = None,
    dead: Callable[[str], bool] | None = None,
    older_than: float = STALE_SECONDS,
) -> int:
    """Remove leftover temporary files in ``folder``; returns how many.

    ``name``: only those of that target file. A temporary file goes when
    ``dead(target name)`` says its writer is gone, or else when it is older
    than ``older_than`` seconds. Never raises.
    """
    removed = 0
    literal = _literal(name) if name else ""
    patterns = [f".{literal}.*{TEMP_SUFFIX}", f".{literal}{TEMP_SUFFIX}"] if name else [f".*{TEMP_SUFFIX}"]
    try:
        candidates = sorted({found for pattern in patterns for found in folder.glob(pattern)})
    except OSError:
        return 0
    now = time.time()
    for temp in candidates:
        owner = temporary_owner(temp)
        if owner is None or (name is not None and owner != name):
            continue
        try:
            info = temp.lstat()
            stale = (dead is not None and dead(owner)) or now - info.st_mtime > older_than
            if stale:
                temp.unlink()
                removed += 1
        except OSError:
            continue
    return removed
