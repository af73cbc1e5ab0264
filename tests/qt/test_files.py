"""Opening, pasting, saving and closing: nothing is lost, every problem is explained."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image
from PySide6.QtCore import QMimeData, QUrl
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QFileDialog, QMessageBox
from qt_helpers import apply_pixels, open_photo, paint_box, photo

from glide_studio.core.editing.document import EDITS_KEY
from glide_studio.core.imaging.files import load_image
from glide_studio.core.imaging.region import Box
from glide_studio.qt.main_window import MainWindow


def _apply_fake_edit(window, prompt="a red boat", seed=7):
    """Apply an edit without running a model: invert the masked pixels."""
    doc = window.session_model.document
    paint_box(window, Box(20, 20, 60, 50))
    box = doc.mask_box()
    return apply_pixels(window, box, 255 - doc.rgb[box.slices], prompt=prompt, seed=seed)


def test_bad_files_show_an_error_and_keep_the_document(window, tmp_path, dialogs):
    doc = open_photo(window)
    paint_box(window, Box(5, 5, 25, 25))
    bogus = tmp_path / "notes.png"
    bogus.write_text("this is not an image")
    truncated = tmp_path / "cut.png"
    Image.fromarray(photo(64, 64)).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    for path in (bogus, truncated, tmp_path / "missing.jpg"):
        assert not window.files.open_path(path)
        kind, title, text = dialogs.shown[-1]
        assert kind == "critical" and title == "Cannot open image" and path.name in text
        assert window.session_model.document is doc and doc.mask[10, 10], (
            "the open document and its mask are kept"
        )


def test_open_keeps_alpha_and_remembers_recent_files(window, tmp_path, settings):
    rgba = np.dstack([photo(80, 60), np.full((60, 80), 128, np.uint8)])
    path = tmp_path / "cutout.png"
    Image.fromarray(rgba, "RGBA").save(path)
    assert window.files.open_path(path)
    doc = window.session_model.document
    assert (doc.width, doc.height) == (80, 60)
    assert doc.alpha is not None and (doc.alpha == 128).all()
    assert settings.recent_files()[0] == str(path.resolve())
    assert settings.last_folder == str(tmp_path.resolve())
    assert window.windowTitle().startswith("cutout.png")
    out = tmp_path / "saved.png"
    doc.save(out)
    assert load_image(out).alpha is not None


def test_save_writes_png_with_parameters_and_export_leaves_the_document_alone(window, tmp_path, monkeypatch):
    source = tmp_path / "photo.jpg"
    Image.fromarray(photo()).save(source, quality=95)
    assert window.files.open_path(source)
    _apply_fake_edit(window, "a red boat", 7)
    assert window.isWindowModified()
    target = tmp_path / "result"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    assert window.files.save(), "a JPEG source is saved as a new PNG"
    saved = load_image(tmp_path / "result.png")
    assert saved.text["prompt"] == "a red boat" and saved.text["seed"] == "7"
    assert json.loads(saved.text[EDITS_KEY])[0]["prompt"] == "a red boat"
    np.testing.assert_array_equal(saved.rgb, window.session_model.document.rgb)
    assert not window.isWindowModified()
    _apply_fake_edit(window, "a blue boat", 8)
    jpeg = tmp_path / "copy.jpg"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(jpeg), ""))
    assert window.files.export()
    assert load_image(jpeg).format == "JPEG"
    doc = window.session_model.document
    assert doc.path == tmp_path / "result.png" and doc.modified, "an export is a copy"
    assert window.files.save()
    assert json.loads(load_image(tmp_path / "result.png").text[EDITS_KEY])[-1]["prompt"] == "a blue boat"


def test_failed_save_reports_and_keeps_state(window, tmp_path, monkeypatch, dialogs):
    open_photo(window)
    _apply_fake_edit(window)
    target = tmp_path / "no" / "such" / "folder" / "x.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    assert not window.files.save_as()
    assert dialogs.shown[-1][1] == "Cannot save"
    assert window.session_model.document.modified


def test_closing_with_unsaved_edits_asks(qtbot, qapp, settings, factory, dialogs):
    win = MainWindow(settings=settings, backend_factory=factory)
    qtbot.addWidget(win)
    win.show()
    open_photo(win)
    _apply_fake_edit(win)
    dialogs.answer = QMessageBox.StandardButton.Cancel
    assert not win.close(), "Cancel keeps the window open"
    assert win.isVisible() and dialogs.kinds() == ["question"]
    dialogs.answer = QMessageBox.StandardButton.Discard
    assert win.close()
    assert win.service.thread.isFinished()


def test_opening_another_file_asks_about_unsaved_edits(window, tmp_path, dialogs):
    doc = open_photo(window)
    _apply_fake_edit(window)
    other = tmp_path / "other.png"
    Image.fromarray(photo(50, 40)).save(other)
    dialogs.answer = QMessageBox.StandardButton.Cancel
    assert not window.files.open_path(other)
    assert window.session_model.document is doc
    dialogs.answer = QMessageBox.StandardButton.Discard
    assert window.files.open_path(other)
    assert window.session_model.document.width == 50 and len(window.session_model.session.history.steps) == 0


def test_paste_and_drop(window, tmp_path, dialogs):
    image = QImage(90, 70, QImage.Format.Format_RGB32)
    image.fill(0xFF3366AA)
    QGuiApplication.clipboard().setImage(image)
    assert window.files.paste()
    doc = window.session_model.document
    assert (doc.width, doc.height) == (90, 70) and tuple(doc.rgb[0, 0]) == (0x33, 0x66, 0xAA)
    assert doc.modified, "a pasted picture is not saved anywhere yet"
    dialogs.answer = QMessageBox.StandardButton.Discard
    path = tmp_path / "dropped.png"
    Image.fromarray(photo(30, 20)).save(path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    assert window.files.open_mime(mime)
    assert window.session_model.document.width == 30
    QGuiApplication.clipboard().setText("just text")
    assert not window.files.paste()
    assert dialogs.shown[-1][1] == "Cannot paste" and window.session_model.document.width == 30


def test_settings_persist_between_windows(qtbot, qapp, settings, factory):
    win = MainWindow(settings=settings, backend_factory=factory)
    qtbot.addWidget(win)
    win.show()
    win.canvas.set_brush_size(77)
    win.prompt_panel.candidates.setValue(6)
    win.prompt_panel.guidance.setValue(7.5)
    win.prompt_panel.set_steps("30", "fast27")
    win.prompt_panel.lock.setChecked(True)
    win.resize(760, 700)
    assert win.close()
    again = MainWindow(settings=settings, backend_factory=factory, start_backend=False)
    qtbot.addWidget(again)
    assert again.canvas.brush_size == 77
    values = again.prompt_panel.values()
    assert (values.candidates, values.guidance, values.base_steps, values.seed_locked) == (6, 7.5, "30", True)
    assert values.preset == "custom"
    assert (again.width(), again.height()) == (760, 700)
    again.close()
