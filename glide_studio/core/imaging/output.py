"""Checks on where results go, made before any model loads, so no work is lost.

A result must never replace the picture it was made from or an existing file
by surprise, and a folder that cannot be written should be found before
minutes of generation rather than after. When writing fails anyway, the
result goes to a recovery file in the user's data folder.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = [
    "DATA_ENV",
    "OutputError",
    "candidate_paths",
    "check_outputs",
    "prepare_folder",
    "recovery_folder",
    "recovery_path",
    "same_file",
]

DATA_ENV = "GLIDE_STUDIO_DATA"
"""Environment variable naming the per-user data folder (autosaves, recovered results)."""


class OutputError(ValueError):
    """An output path that would destroy a file or cannot be written; the message names it."""


def candidate_paths(output: Path, count: int) -> list[Path]:
    """``out.png`` for one result; ``out-0.png``, ``out-1.png``, ... for several."""
    if count == 1:
        return [output]
    return [output.with_name(f"{output.stem}-{k}{output.suffix}") for k in range(count)]


def same_file(a: Path, b: Path) -> bool:
    """True when both name one file, also through a symbolic or hard link."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist (or cannot be examined): compare the names
        return a.resolve() == b.resolve()


def check_outputs(source: Path, outputs: Sequence[Path], *, overwrite: bool) -> None:
    """Refuse outputs that are the source or existing files (unless ``overwrite``) or folders."""
    for path in outputs:
        if path.is_dir():
            raise OutputError(f"{path}: is a folder; name the result file, e.g. {path / 'result.png'}")
        if overwrite:
            continue
        if same_file(path, source):
            raise OutputError(
                f"{path}: is the input picture; choose another output (or add --overwrite to replace it)"
            )
        if path.exists() or path.is_symlink():
            raise OutputError(f"{path}: already exists; choose another name or add --overwrite")


def prepare_folder(folder: Path) -> None:
    """Create ``folder`` if needed and prove it can be written (create and remove a file)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{folder}: cannot create the output folder: a file has that name") from None
    except OSError as exc:
        raise OutputError(f"{folder}: cannot create the output folder ({exc.strerror or exc})") from None
    try:
        handle, probe = tempfile.mkstemp(prefix=".glide-studio-write-check-", dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot write to the output folder ({exc.strerror or exc})") from None


def recovery_folder(environ: Mapping[str, str] = os.environ) -> Path:
    """``$GLIDE_STUDIO_DATA/recovered``, else ``recovered`` in the platform's user data folder."""
    import platformdirs  # the per-user folders, looked up only when needed

    data = environ.get(DATA_ENV) or platformdirs.user_data_dir("glide-studio", appauthor=False)
    return Path(data) / "recovered"


def recovery_path(output: Path, *, folder: Path) -> Path:
    """A new file name in ``folder`` for a result meant for ``output`` (never an existing file)."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for k in range(1000):
        name = f"{output.stem}-{stamp}{f'-{k}' if k else ''}{output.suffix}"
        if not (folder / name).exists():
            return folder / name
    raise OutputError(f"{folder}: too many recovered files named {output.stem}-{stamp}*")
