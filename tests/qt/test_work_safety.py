"""Your work is safe: saving never destroys the source, nothing unapplied is dropped without asking,
projects and PNG edit records come back, and a crashed session is offered for restore."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtWidgets import QFileDialog, QMessageBox
from qt_helpers import (
    apply_pixels,
    backend_of,
    collect,
    fast_settings,
    on_event,
    open_photo,
    paint_box,
    photo,
)

from glide_studio.core.editing.autosave import Autosaver
from glide_studio.core.editing.document import Document
from glide_studio.core.editing.session import EditingSession
from glide_studio.core.generation.events import Cancelled, Failed, Finished
from glide_studio.core.imaging.region import Box
from glide_studio.qt import recovery
from glide_studio.qt.main_window import MainWindow


def _generate(qtbot, window, *, candidates=2):
    finished = []
    collect(window.service, Finished, finished)
    qtbot.waitUntil(lambda: window.service.info is not None, timeout=30_000)
    fast_settings(window, base="2", candidates=candidates)
    assert window.generation.generate()
    qtbot.waitUntil(lambda: bool(finished), timeout=60_000)


def test_ctrl_s_on_an_opened_png_goes_to_save_as_and_leaves_the_original(window, tmp_path, monkeypatch):
    source = tmp_path / "photo.png"
    Image.fromarray(photo()).save(source)
    original = source.read_bytes()
    assert window.files.open_path(source)
    paint_box(window, Box(10, 10, 30, 30))
    apply_pixels(window, Box(10, 10, 30, 30), np.zeros((20, 20, 3), np.uint8))
    suggested = []

    def dialog(parent, title, path, filters):
        suggested.append(path)
        return str(tmp_path / "photo-edited.png"), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", dialog)
    assert window.files.save()
    assert suggested == [str(tmp_path / "photo-edited.png")], "the first save is a Save As, never in place"
    assert source.read_bytes() == original
    suggested.clear()
    paint_box(window, Box(40, 40, 50, 50))
    apply_pixels(window, Box(40, 40, 50, 50), np.zeros((10, 10, 3), np.uint8))
    assert window.files.save() and suggested == [], "a file written in this session is saved in place"
    assert source.read_bytes() == original


def test_the_close_prompt_default_saves_without_overwriting(
    qtbot, qapp, settings, factory, dialogs, tmp_path, monkeypatch
):
    source = tmp_path / "photo.png"
    Image.fromarray(photo()).save(source)
    original = source.read_bytes()
    win = MainWindow(settings=settings, backend_factory=factory, data_folder=tmp_path / "autosave")
    qtbot.addWidget(win)
    win.show()
    assert win.files.open_path(source)
    paint_box(win, Box(10, 10, 30, 30))
    apply_pixels(win, Box(10, 10, 30, 30), np.zeros((20, 20, 3), np.uint8))
    dialogs.answer = QMessageBox.StandardButton.Save
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a: (str(tmp_path / "kept.png"), ""))
    win.close()
    qtbot.waitUntil(win.service.thread.isFinished, timeout=20_000)  # a hang guard
    assert source.read_bytes() == original and (tmp_path / "kept.png").is_file()


def test_unapplied_candidates_are_not_dropped_without_asking(qtbot, window, dialogs, tmp_path):
    open_photo(window)
    paint_box(window, Box(40, 30, 90, 80))
    _generate(qtbot, window)
    dialogs.answer = QMessageBox.StandardButton.No
    assert not window.generation.generate(), "No keeps the candidates"
    assert dialogs.shown[-1][1] == "Generate again" and window.session_model.session.pending_candidates == 2
    other = tmp_path / "other.png"
    Image.fromarray(photo(50, 40)).save(other)
    dialogs.answer = QMessageBox.StandardButton.Cancel
    assert not window.files.open_path(other)
    assert "2 candidate(s)" in dialogs.shown[-1][2] and window.session_model.session.pending_candidates == 2


def test_undo_of_apply_brings_the_candidates_back(qtbot, window):
    doc = open_photo(window)
    before = doc.rgb.copy()
    paint_box(window, Box(40, 30, 90, 80))
    _generate(qtbot, window, candidates=3)
    window.candidates.select(2)
    assert window.generation.apply()
    assert window.candidates.count == 0
    window.actions_.undo.trigger()
    np.testing.assert_array_equal(doc.rgb, before)
    assert window.candidates.count == 3 and window.candidates.current == 2
    assert window.candidates.apply_button.isEnabled() and window.canvas.preview_showing


def test_reopening_a_saved_png_lists_its_edits_in_history(window, tmp_path):
    open_photo(window)
    paint_box(window, Box(10, 10, 30, 30))
    apply_pixels(window, Box(10, 10, 30, 30), np.zeros((20, 20, 3), np.uint8), prompt="a black hole")
    out = window.session_model.document.save(tmp_path / "out.png")
    assert window.files.open_path(out)
    texts = [window.history.list.item(i).text() for i in range(window.history.list.count())]
    assert texts[0].startswith("a black hole") and "from the file" in texts[0]
    assert texts[1] == "Opened picture"
    record = window.session_model.document.earlier_edits[0].record
    assert record is not None and record.mask(160, 120)[10:30, 10:30].all()


def test_project_save_and_open_restore_history_and_candidates(qtbot, window, tmp_path, monkeypatch):
    doc = open_photo(window)
    paint_box(window, Box(10, 10, 30, 30))
    apply_pixels(window, Box(10, 10, 30, 30), np.zeros((20, 20, 3), np.uint8), prompt="first")
    paint_box(window, Box(40, 30, 90, 80))
    _generate(qtbot, window)
    target = tmp_path / "work.glide"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a: (str(target), ""))
    assert window.files.save_project()
    picture = doc.rgb.copy()
    assert window.files.open_path(target)
    session = window.session_model.session
    np.testing.assert_array_equal(session.document.rgb, picture)
    assert session.pending_candidates == 2 and window.candidates.count == 2
    assert [window.history.list.item(i).text().splitlines()[0] for i in range(2)] == ["Original", "first"]
    window.actions_.undo.trigger()  # the restored mask is its own step: it goes first
    assert session.document.mask_box() is None
    window.actions_.undo.trigger()
    assert (session.document.rgb[10:30, 10:30] != 0).any()


def test_a_crashed_session_is_offered_and_restored(qtbot, qapp, settings, factory, tmp_path, monkeypatch):
    folder = tmp_path / "autosave"
    session = EditingSession(Document(photo()))
    session.paint(Box(5, 5, 25, 25), np.ones((20, 20), bool), True)
    session.set_prompt("a lighthouse")
    dead = 2**22 + 12345  # a pid that is not running
    Autosaver(folder=folder, pid=dead, synchronous=True).tick(session, force=True)
    asked = []
    monkeypatch.setattr(recovery, "ask_restore", lambda parent, found: asked.append(found.title) or "restore")
    win = MainWindow(settings=settings, backend_factory=factory, data_folder=folder)
    qtbot.addWidget(win)
    assert win.recovery.offer_restore(win.files.replace)
    assert asked == ["Untitled"] and win.session_model.document.mask[5:25, 5:25].all()
    assert win.prompt_panel.prompt.toPlainText() == "a lighthouse"
    win.recovery.autosaver.wait()
    assert sorted(p.suffix for p in folder.iterdir()) == [".glide", ".json", ".lock"], (
        "ours replaces the crashed one"
    )
    win.close()


class _RaisesAtOnce:
    """A backend whose ``run`` fails before it yields anything (not even a generator)."""

    def __init__(self, tiny) -> None:
        self.info = backend_of(tiny, "x").info

    def prepare(self, preparation, *, cancel=None):
        return {}

    def run(self, request, *, cancel=None):
        raise RuntimeError("the device vanished")


def test_every_run_ends_with_exactly_one_final_signal(qtbot, qapp, settings, dialogs, tmp_path, tiny):
    win = MainWindow(
        settings=settings,
        backend_factory=lambda: _RaisesAtOnce(tiny),
        data_folder=tmp_path / "autosave",
    )
    qtbot.addWidget(win)
    ends = []
    for kind in (Finished, Failed, Cancelled):
        on_event(win.service, kind, ends.append)
    open_photo(win)
    paint_box(win, Box(40, 30, 90, 80))
    fast_settings(win, base="2")
    qtbot.waitUntil(lambda: win.service.info is not None, timeout=30_000)
    assert win.generation.generate()
    qtbot.waitUntil(lambda: not win.service.busy, timeout=10_000)
    qtbot.wait(100)
    assert ends == [Failed(message="RuntimeError: the device vanished")]
    assert win.session_model.session.run is None and win.prompt_panel.generate_button.isEnabled()
    assert win.generation.generate(), "the busy state is never stuck"
    qtbot.waitUntil(lambda: not win.service.busy, timeout=10_000)
    win.close()
