"""Persistent preferences, typed, over a QSettings passed in (tests give a temporary INI file).

Nothing here reaches for a global QSettings: the window receives a
``Settings`` object, so a test or a screenshot script can never touch the
user's real preferences.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from ..core.generation.presets import DEFAULT_PRESET, PRESETS

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
        return BackendChoice(
            url=self._get("backend/url", "", str).strip(), token=self._get("backend/token", "", str)
        )

    def set_backend(self, backend: BackendChoice) -> None:
        self._store.setValue("backend/url", backend.url)
        self._store.setValue("backend/token", backend.token)

    # -- generation -----------------------------------------------------------------------------

    def generation(self) -> GenerationDefaults:
        defaults = GenerationDefaults()
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


def temporary_settings(path: str | Path) -> Settings:
    """Settings in an INI file of one's choosing (tests, screenshots, ``--settings``)."""
    return Settings(QSettings(str(path), QSettings.Format.IniFormat))
