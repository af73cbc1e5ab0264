"""The studio pointed at a served instance: the same previews, candidates and history through it."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox

from glide_studio.core.editing.document import Document
from glide_studio.core.editing.session import EditingSession
from glide_studio.core.generation.events import Finished, Preview
from glide_studio.core.imaging.region import Box
from glide_studio.qt.app import apply_theme
from glide_studio.qt.main_window import MainWindow
from glide_studio.qt.settings import BackendChoice, temporary_settings

pytestmark = pytest.mark.slow  # needs the Ray Serve instance (tests/serve/conftest.py): seconds to start


def _never_local():
    raise AssertionError("the local models must not load when a server is chosen")


@pytest.fixture()
def studio(qtbot, qapp, tmp_path, served, monkeypatch):
    monkeypatch.setenv("GLIDE_STUDIO_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(
        QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Discard)
    )
    apply_theme(qapp)
    settings = temporary_settings(tmp_path / "settings.ini")
    settings.set_backend(BackendChoice(url=served.url, token=served.token))
    win = MainWindow(settings=settings, backend_factory=_never_local, data_folder=tmp_path / "autosave")
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()
    win.service.wait_stopped(20_000)


def test_the_studio_edits_through_the_server_with_live_previews(qtbot, studio):
    win = studio
    qtbot.waitUntil(lambda: win.service.info is not None, timeout=60_000)
    assert "127.0.0.1" in win.service.info.device_label and win.service.info.is_demo
    rgb = np.random.default_rng(1).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    win.files.replace(EditingSession(Document(rgb)))
    win.session_model.paint(Box(20, 15, 50, 45), np.ones((30, 30), bool), True)
    win.prompt_panel.set_steps("6", "2")
    win.prompt_panel.candidates.setValue(2)
    win.prompt_panel.prompt.setPlainText("a red circle")
    previews, finished = [], []
    for kind, into in ((Preview, previews), (Finished, finished)):
        win.service.event.connect(
            lambda e, kind=kind, into=into: into.append(e) if isinstance(e, kind) else None
        )
    assert win.generation.generate()
    qtbot.waitUntil(lambda: bool(finished), timeout=120_000)
    stages = [(p.stage, p.step) for p in previews]
    assert stages == [("base", k) for k in range(1, 7)] + [("upsample", 1), ("upsample", 2)], (
        "both stages live"
    )
    assert win.candidates.count == 2
    assert win.generation.apply()
    assert win.session_model.document.edits and (win.session_model.document.rgb != rgb).any()
    assert (
        win.session_model.document.edits[0]
        .parameters["model"]
        .endswith(win.service.info.description.split(" on ")[-1])
    )
