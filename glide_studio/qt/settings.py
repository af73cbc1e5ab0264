"""Persistent preferences, typed, over a QSettings passed in (tests give a temporary INI file).

Nothing here reaches for a global QSettings: the window receives a
``Settings`` object, so a test or a screenshot script can never touch the
user's real preferences.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from ..core.generation.presets import DEFAULT_PRESET, MODEL_PRESET, PRESETS

__all__ = ["MAX_RECENT", "BackendChoice", "GenerationDefaults", "Settings", "temporary_settings"]

MAX_RECENT = 10


@dataclass
class GenerationDefaults:
    """The prompt panel's controls, remembered between sessions."""

    guidance: float = 5.0
    preset: str = DEFAULT_PRESET
    base_steps: str = PRESETS[DEFAULT_PRESET].base.steps
    upsample_steps: str = PRESETS[DEFAULT_PRESET].upsample.steps
    sampler: str = PRESETS[DEFAULT_PRESET].base.sampler
    upsample_sampler: str = PRESETS[DEFAULT_PRESET].upsample.sampler
    candidates: int = 4
    upsample: bool = True
    seed: int = 0
    seed_locked: bool = False
    clip: bool = False
    """Guided by noised CLIP instead of classifier-free guidance."""
    clip_scale: float = 3.0
    context: float = 1.0
    """How much picture around the mask the automatic square shows (× the mask's size)."""
    detail: str = "auto"
    """The detail pass: off, auto or on."""
    detail_steps: str = "fast27"


@dataclass(frozen=True)
class BackendChoice:
    url: str = ""
    """Empty: this computer. Otherwise the server's address, e.g. http://gpu-box:8000."""
    token: str = ""

    @property
    def remote(self) -> bool:
        return bool(self.url)

    @property
    def label(self) -> str:
        return self.url if self.remote else "This computer"


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)


class Settings:
    """Typed access to the app's keys in one QSettings store."""

    def __init__(self, store: QSettings) -> None:
        self._store = store

    @property
    def store(self) -> QSettings:
        return self._store

    def sync(self) -> None:
        self._store.sync()

    def _get(self, key: str, default: Any, kind: type) -> Any:
        value = self._store.value(key, default)
        try:
            return _bool(value) if kind is bool else kind(value)
        except (TypeError, ValueError):
            return default

    # -- window -----------------------------------------------------------------------------

    def geometry(self) -> QByteArray | None:
        value = self._store.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def window_state(self) -> QByteArray | None:
        value = self._store.value("window/state")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self._store.setValue("window/geometry", geometry)
        self._store.setValue("window/state", state)

    # -- tools and files -----------------------------------------------------------------------

    @property
    def brush_size(self) -> int:
        return max(1, self._get("tools/brush_size", 40, int))

    @brush_size.setter
    def brush_size(self, size: int) -> None:
        self._store.setValue("tools/brush_size", int(size))

    @property
    def last_folder(self) -> str:
        folder = self._get("files/last_folder", "", str)
        return folder if folder and Path(folder).is_dir() else str(Path.home())

    @last_folder.setter
    def last_folder(self, folder: str) -> None:
        self._store.setValue("files/last_folder", str(folder))

    def recent_files(self) -> list[str]:
        value = self._store.value("files/recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or []) if str(v)][:MAX_RECENT]

    def add_recent(self, path: str | Path) -> list[str]:
        path = str(Path(path).resolve())
        recent = [path] + [p for p in self.recent_files() if p != path]
        self._store.setValue("files/recent", recent[:MAX_RECENT])
        return recent[:MAX_RECENT]

    def remove_recent(self, path: str) -> None:
        self._store.setValue("files/recent", [p for p in self.recent_files() if p != path])

    # -- backend ---------------------------------------------------------------------------------

    def backend(self) -> BackendChoice:
        """Where the models run: this computer (no URL) or a GLIDE Studio server."""
        legacy = self._get("backend/token", "", str)
        if legacy:  # kept in the preferences file by earlier versions: moved to its private file
            self._store.remove("backend/token")
            with contextlib.suppress(OSError):
                _write_private(self.token_path(), legacy)
        try:
            token = self.token_path().read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            token = legacy
        return BackendChoice(url=self._get("backend/url", "", str).strip(), token=token)

    def set_backend(self, backend: BackendChoice) -> None:
        """The address in the preferences; the token in a file only this user can read (0600)."""
        self._store.setValue("backend/url", backend.url)
        self._store.remove("backend/token")
        path = self.token_path()
        if backend.token:
            _write_private(path, backend.token)
        else:
            path.unlink(missing_ok=True)

    def token_path(self) -> Path:
        """Beside the preferences file (or in the app's config folder where they live in a registry)."""
        name = self._store.fileName()
        if self._store.format() == QSettings.Format.IniFormat or name.endswith((".conf", ".ini", ".plist")):
            return Path(name).with_suffix(".token")
        from PySide6.QtCore import QStandardPaths

        folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppConfigLocation)
        return Path(folder) / "server.token"

    # -- generation -----------------------------------------------------------------------------

    def generation(self) -> GenerationDefaults:
        defaults = GenerationDefaults()
        if not self._store.contains("generation/preset"):
            # Never chosen: a model's own sampling (the demo's) is taken when it brings one.
            defaults = GenerationDefaults(preset=MODEL_PRESET)
        values = {
            f.name: self._get(
                f"generation/{f.name}", getattr(defaults, f.name), type(getattr(defaults, f.name))
            )
            for f in fields(GenerationDefaults)
        }
        return GenerationDefaults(**values)

    def set_generation(self, values: GenerationDefaults) -> None:
        for key, value in asdict(values).items():
            self._store.setValue(f"generation/{key}", value)


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` through a temporary file that is private from its creation."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".saving", dir=path.parent)  # 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def temporary_settings(path: str | Path) -> Settings:
    """Settings in an INI file of one's choosing (tests, screenshots, ``--settings``)."""
    return Settings(QSettings(str(path), QSettings.Format.IniFormat))
