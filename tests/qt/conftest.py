"""Fixtures for the window tests: temporary settings, tiny models, and dialogs that never block."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from PySide6.QtWidgets import QMessageBox
from qt_helpers import window_with

from glide_studio.core.runtime.engine import LocalBackend
from glide_studio.qt.app import apply_theme
from glide_studio.qt.main_window import MainWindow
from glide_studio.qt.settings import temporary_settings
from tiny_models import tiny_inpainter


@dataclass
class Dialogs:
    """Every message box the code under test tried to show, answered without blocking."""

    shown: list[tuple[str, str, str]] = field(default_factory=list)
    answer: QMessageBox.StandardButton = QMessageBox.StandardButton.Discard

    def kinds(self) -> list[str]:
        return [kind for kind, _, _ in self.shown]


@pytest.fixture(autouse=True)
def dialogs(monkeypatch: pytest.MonkeyPatch) -> Dialogs:
    record = Dialogs()

    def fake(kind: str):
        def show(parent, title, text, *args, **kwargs):
            record.shown.append((kind, title, text))
            return record.answer if kind == "question" else QMessageBox.StandardButton.Ok

        return staticmethod(show)

    for kind in ("critical", "warning", "information", "question"):
        monkeypatch.setattr(QMessageBox, kind, fake(kind))
    return record


@pytest.fixture
def settings(tmp_path):
    """Preferences in a temporary INI file, never the user's."""
    return temporary_settings(tmp_path / "settings.ini")


@pytest.fixture(scope="session")
def tiny():
    """One tiny inpainter for the whole session (it holds no per-run state)."""
    return tiny_inpainter()


@pytest.fixture
def engine_calls():
    return []


@pytest.fixture
def factory(tiny, engine_calls):
    def load():
        engine_calls.append(1)
        return LocalBackend.of(tiny, description="tiny test model")

    return load


@pytest.fixture
def window(qtbot, qapp, settings, factory, tmp_path, dialogs):
    apply_theme(qapp)
    win = MainWindow(settings=settings, backend_factory=factory, data_folder=tmp_path / "autosave")
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    yield win
    dialogs.answer = QMessageBox.StandardButton.Discard
    win.close()
    assert win.service.wait_stopped(30_000)


@pytest.fixture
def window_for(qtbot, qapp, settings, tmp_path, dialogs):
    """``window_for(inpainter)``: a shown, loaded window with its own engine; every one made is
    closed at the end and its model thread waited for."""
    made: list[MainWindow] = []

    def make(inpainter) -> MainWindow:
        made.append(window_with(qtbot, settings, tmp_path, inpainter))
        return made[-1]

    yield make
    dialogs.answer = QMessageBox.StandardButton.Discard
    for win in made:
        win.close()
        assert win.service.wait_stopped(30_000)


@pytest.fixture(autouse=True)
def private_data_folder(tmp_path, monkeypatch):
    """Autosaves and recovered results go to a temporary folder, never the user's."""
    folder = tmp_path / "user-data"
    monkeypatch.setenv("GLIDE_STUDIO_DATA", str(folder))
    return folder
