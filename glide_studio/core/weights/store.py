"""The folder that holds the released GLIDE files: finding it, checking it, filling it.

The files keep their released names (``base_inpaint.pt``, ``upsample_inpaint.pt``,
...) in one folder, so that a user who is offline can fetch them elsewhere and
drop them in by hand. Each downloaded file gets a sidecar manifest
(``<file>.manifest.json``: size, SHA-256, URL, the server's validator, mtime)
that loading checks cheaply and ``glide-studio verify`` checks by re-hashing.
Torch is imported only to verify a checkpoint, so asking what is missing
stays cheap at start-up.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..imaging.safe_write import write_bytes_atomic
from .downloads import (
    CancelCheck,
    DownloadBusy,
    DownloadCancelled,
    DownloadError,
    Fetched,
    ProgressCallback,
    StoreError,
    Transfer,
    hold_lock,
    human_size,
)
from .released import RELEASED, ReleasedFile

__all__ = [
    "DOWNLOAD_COMMAND",
    "MIRROR_ENV",
    "WEIGHTS_ENV",
    "DownloadBusy",
    "DownloadCancelled",
    "DownloadError",
    "MissingWeightsError",
    "ModelStore",
    "Sidecar",
    "StoreError",
    "VerificationError",
    "default_folder",
]

WEIGHTS_ENV = "GLIDE_STUDIO_WEIGHTS"
"""Environment variable naming the weights folder (used when no folder is given)."""
MIRROR_ENV = "GLIDE_STUDIO_MIRROR"
"""Environment variable with a base URL that serves the files under their released names."""
DOWNLOAD_COMMAND = "glide-studio download"
SIDECAR_SUFFIX = ".manifest.json"
CLIP_KEYS = "clip_keys.json"
"""Package data: the released CLIP encoder files' keys and shapes."""


class VerificationError(StoreError):
    """A file is not what its name promises; the message names the file and the reason."""

    def __init__(self, path: Path, problem: str, *, url: str | None = None) -> None:
        note = f"; the file downloaded from {url} was deleted" if url else ""
        super().__init__(f"{path}: {problem}{note}")
        self.path = path
        self.problem = problem


class MissingWeightsError(StoreError):
    """Files are absent; the message tells an offline user exactly what to fetch and where."""

    def __init__(self, folder: Path, missing: Sequence[ReleasedFile], urls: Mapping[str, str]) -> None:
        lines = [f"Missing GLIDE files in {folder}:"]
        lines += [f"  - {f.filename} ({human_size(f.approx_bytes)}): {urls[f.name]}" for f in missing]
        command = [*DOWNLOAD_COMMAND.split(), *(f.name for f in missing)]
        if folder != default_folder():
            command += ["--weights-dir", str(folder)]
        lines.append(f"To fetch them, run: {shlex.join(command)}")
        lines.append(
            "Offline? Download each URL above on another machine and put the files, "
            f"under the names shown, into {folder}"
        )
        super().__init__("\n".join(lines))
        self.folder = folder
        self.missing = tuple(missing)


@dataclass(frozen=True, kw_only=True)
class Sidecar:
    """The manifest written beside a downloaded file: what it was when it arrived."""

    size: int
    sha256: str
    url: str
    validator: str | None
    mtime_ns: int

    @staticmethod
    def path_for(path: Path) -> Path:
        return path.with_name(path.name + SIDECAR_SUFFIX)

    @classmethod
    def read(cls, path: Path) -> Sidecar | None:
        """The manifest of ``path``, None when there is none; a damaged one is an error."""
        where = cls.path_for(path)
        try:
            data = json.loads(where.read_text(encoding="utf-8"))
            return cls(
                size=int(data["size"]),
                sha256=str(data["sha256"]),
                url=str(data["url"]),
                validator=data.get("validator"),
                mtime_ns=int(data["mtime_ns"]),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise VerificationError(
                where, f"the manifest is damaged ({exc}); delete it and run verify"
            ) from exc

    def write(self, path: Path) -> None:
        where = self.path_for(path)
        try:
            write_bytes_atomic(where, json.dumps(asdict(self), indent=1).encode("utf-8"))
        except OSError as exc:
            raise StoreError(f"cannot write {where}: {exc.strerror or exc}") from exc


def default_folder() -> Path:
    """Where weights go when neither ``--weights-dir`` nor ``GLIDE_STUDIO_WEIGHTS`` says otherwise:
    the per-user cache folder that platformdirs names.

    Without platformdirs (a declared dependency, so only where the project runs from its folder
    on a machine that cannot install it, such as the GPU check's) the folder platformdirs
    gives on Linux stands in: ``$XDG_CACHE_HOME`` or ``~/.cache``, then ``glide-studio``.
    The demo engine reports this folder even though it reads nothing from it.
    """
    try:
        import platformdirs  # the per-user folders, looked up only when needed
    except ImportError:
        cache = os.environ.get("XDG_CACHE_HOME", "").strip()
        return (Path(cache) if cache else Path.home() / ".cache") / "glide-studio" / "weights"
    return Path(platformdirs.user_cache_dir("glide-studio")) / "weights"


class ModelStore:
    """One weights folder and the released files expected in it.

    ``files`` replaces the released table (names, file names, URLs and model
    options); tests use it to expect tiny checkpoints. ``mirror`` is a base URL
    that serves the files under their released names, e.g. a copy of this
    folder served over HTTP.
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        mirror: str | None = None,
        files: Mapping[str, ReleasedFile] | None = None,
    ) -> None:
        self._folder = Path(folder).expanduser()
        self._mirror = mirror or None
        self._files = files

    @classmethod
    def locate(
        cls,
        folder: str | Path | None = None,
        *,
        environ: Mapping[str, str] = os.environ,
        files: Mapping[str, ReleasedFile] | None = None,
    ) -> ModelStore:
        """Pick the folder: ``folder`` if given, else ``$GLIDE_STUDIO_WEIGHTS``, else the user cache."""
        if folder is not None and str(folder).strip():
            chosen = Path(folder)
        elif environ.get(WEIGHTS_ENV, "").strip():
            chosen = Path(environ[WEIGHTS_ENV].strip())
        else:
            chosen = default_folder()
        chosen = chosen.expanduser()
        if chosen.exists() and not chosen.is_dir():
            raise StoreError(f"{chosen}: is not a folder (the weights folder must be a folder)")
        return cls(chosen, mirror=environ.get(MIRROR_ENV, "").strip() or None, files=files)

    def __repr__(self) -> str:
        return f"ModelStore({str(self._folder)!r}, mirror={self._mirror!r})"

    @property
    def folder(self) -> Path:
        return self._folder

    @property
    def mirror(self) -> str | None:
        return self._mirror

    @property
    def files(self) -> Mapping[str, ReleasedFile]:
        return RELEASED if self._files is None else self._files

    def entry(self, name: str) -> ReleasedFile:
        entry = self.files.get(name)
        if entry is None:
            raise StoreError(f"unknown file {name!r}; known: {', '.join(self.files)}")
        return entry

    def path(self, name: str) -> Path:
        return self._folder / self.entry(name).filename

    def has(self, name: str) -> bool:
        """Present on disk; cheap, so it does not verify (see ``verify``)."""
        return self.path(name).is_file()

    def url_for(self, name: str, *, base_url: str | None = None) -> str:
        """The official URL, or ``base_url`` / the mirror followed by the released file name."""
        entry = self.entry(name)
        base = base_url or self._mirror
        return f"{base.rstrip('/')}/{entry.filename}" if base else entry.url

    def missing(self, names: Iterable[str]) -> list[ReleasedFile]:
        return [self.entry(n) for n in names if not self.has(n)]

    def require(self, names: Iterable[str]) -> dict[str, Path]:
        """The paths of ``names``, or a ``MissingWeightsError`` that explains how to get them."""
        names = list(names)
        missing = self.missing(names)
        if missing:
            urls = {f.name: self.url_for(f.name) for f in missing}
            raise MissingWeightsError(self._folder, missing, urls)
        return {n: self.path(n) for n in names}

    def verify(self, name: str) -> None:
        """Check a file on disk (downloaded or dropped in by hand) without loading any weights:
        its manifest cheaply when it has one, then its keys and shapes."""
        path = self.require([name])[name]
        self.check_sidecar(name)
        _check_file(self.entry(name), path, shown=path)

    def check_sidecar(self, name: str) -> Sidecar | None:
        """Cheap check against the manifest (size, mtime); None for a file placed by hand.

        A file whose size differs is refused. One whose mtime alone differs (copied
        without keeping times) is re-hashed once, and its manifest updated if it matches.
        """
        path = self.path(name)
        sidecar = Sidecar.read(path)
        if sidecar is None:
            return None
        try:
            stat = path.stat()
        except OSError as exc:
            raise VerificationError(path, f"cannot be read ({exc.strerror or exc})") from exc
        if stat.st_size != sidecar.size:
            raise VerificationError(
                path,
                f"is {stat.st_size} bytes but was {sidecar.size} when downloaded from {sidecar.url} "
                f"(changed or truncated since); run {DOWNLOAD_COMMAND} {name} to fetch it again",
            )
        if stat.st_mtime_ns != sidecar.mtime_ns:
            self.rehash(name)
            sidecar = Sidecar(**{**asdict(sidecar), "mtime_ns": stat.st_mtime_ns})
            sidecar.write(path)
        return sidecar

    def rehash(self, name: str) -> Sidecar | None:
        """Hash the whole file and compare with its manifest (None when it has none)."""
        path = self.require([name])[name]
        sidecar = Sidecar.read(path)
        if sidecar is None:
            return None
        digest = hashlib.sha256()
        try:
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
        except OSError as exc:
            raise VerificationError(path, f"cannot be read ({exc.strerror or exc})") from exc
        if digest.hexdigest() != sidecar.sha256:
            raise VerificationError(
                path,
                f"its SHA-256 differs from the one recorded when it was downloaded from {sidecar.url} "
                f"(the file is damaged); run {DOWNLOAD_COMMAND} {name} to fetch it again",
            )
        return sidecar

    def set_aside(self, name: str) -> Path:
        """Move a damaged file to ``<file>.invalid`` so a new download can take its place."""
        path = self.path(name)
        aside = path.with_name(path.name + ".invalid")
        try:
            os.replace(path, aside)
        except OSError as exc:
            raise StoreError(f"cannot move {path} aside: {exc.strerror or exc}") from exc
        Sidecar.path_for(path).unlink(missing_ok=True)
        return aside

    def download(
        self,
        name: str,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelCheck | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        attempts: int = 3,
        lock_timeout: float | None = 0.0,
    ) -> Path:
        """Fetch ``name`` into the folder through ``<file>.part``, verify it, then rename it.

        A ``.part`` left by an interrupted run is resumed. ``timeout`` is per
        network operation; ``attempts`` bounds automatic resumes after the
        connection drops mid-body. While another download of the same file
        runs, wait up to ``lock_timeout`` seconds (None: no limit), then use
        its result.
        """
        entry = self.entry(name)
        target = self.path(name)
        url = self.url_for(name, base_url=base_url)
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the weights folder {self._folder}: {exc.strerror or exc}"
            ) from exc
        with hold_lock(target, timeout=lock_timeout, cancel=cancel) as waited:
            if waited and target.is_file():
                self.verify(name)  # the other download finished it
                return target
            part = target.with_name(target.name + ".part")
            transfer = Transfer(
                url=url, part=part, progress=progress, cancel=cancel, timeout=timeout, attempts=attempts
            )
            fetched = transfer.run()
            try:
                _check_file(entry, part, shown=target)
            except VerificationError as exc:
                transfer.discard()
                raise VerificationError(target, exc.problem, url=url) from exc
            self._install(transfer, fetched, target)
        return target

    @staticmethod
    def _install(transfer: Transfer, fetched: Fetched, target: Path) -> None:
        """Manifest first, then the file: a file is never present with another file's manifest."""
        part = transfer.part
        sidecar = Sidecar(
            size=fetched.size,
            sha256=fetched.sha256,
            url=fetched.url,
            validator=fetched.validator,
            mtime_ns=part.stat().st_mtime_ns,
        )
        Sidecar.path_for(target).unlink(missing_ok=True)
        sidecar.write(target)
        try:
            os.replace(part, target)
        except OSError as exc:
            Sidecar.path_for(target).unlink(missing_ok=True)
            raise StoreError(f"cannot move {part} to {target}: {exc.strerror or exc}") from exc
        transfer.state_path.unlink(missing_ok=True)


def _check_file(entry: ReleasedFile, path: Path, *, shown: Path) -> None:
    """Keys and shapes of a checkpoint against what it should hold; errors name ``shown``."""
    _head(path, shown=shown)
    if entry.options is not None:
        _check_checkpoint(entry.options, path, shown=shown)
    else:
        _check_clip(entry.name, path, shown=shown)


def _check_checkpoint(options: Mapping[str, Any], path: Path, *, shown: Path) -> None:
    """Compare keys and shapes with a model built on the meta device: no weights are allocated."""
    import torch

    from ..model import build_model
    from .checkpoints import CheckpointError, check_state_dict, read_state_dict

    try:
        state_dict = read_state_dict(path)
        with torch.device("meta"):
            model = build_model(options)
        check_state_dict(shown, state_dict, model)
    except CheckpointError as exc:
        raise VerificationError(shown, exc.problem) from exc


def clip_key_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """Every key of a released CLIP encoder file and its shape (shipped with the package)."""
    table = json.loads((resources.files(__package__) / CLIP_KEYS).read_text(encoding="utf-8"))
    return {key: tuple(shape) for key, shape in table[name].items()}


def _check_clip(name: str, path: Path, *, shown: Path) -> None:
    """A CLIP encoder file against the released keys and shapes (no model needs to be built)."""
    from .checkpoints import CheckpointError, compare_shapes, read_state_dict

    try:
        state_dict = read_state_dict(path)
        compare_shapes(shown, state_dict, clip_key_shapes(name))
    except CheckpointError as exc:
        raise VerificationError(shown, exc.problem) from exc


def _head(path: Path, *, shown: Path) -> bytes:
    """The first bytes; rejects unreadable, empty and web-page files."""
    try:
        with path.open("rb") as f:
            head = f.read(256)
    except OSError as exc:
        raise VerificationError(shown, f"cannot be read ({exc.strerror or exc})") from exc
    if not head:
        raise VerificationError(shown, "the file is empty")
    if head.lstrip()[:1] == b"<":
        raise VerificationError(shown, "it is a web page (an error page saved instead of the file?)")
    return head
