"""The window with hostile and damaged files: 16-bit Save, refused files always in a dialog,
damaged autosaves offered to discard, foreign text keys reported rather than blocking a save."""

from __future__ import annotations

import json
import zlib

import numpy as np
import png
from PIL import Image
from PySide6.QtWidgets import QFileDialog
from qt_helpers import apply_pixels, paint_box, photo

from glide_studio.core.editing.project import ProjectError
from glide_studio.core.imaging.files import load_image
from glide_studio.core.imaging.region import Box
from glide_studio.qt import recovery
from glide_studio.qt.main_window import MainWindow


def _png16(path, rgb16, alpha16):
    pixels = np.dstack([rgb16, alpha16])
    height, width, _ = pixels.shape
    with path.open("wb") as handle:
        png.Writer(width, height, greyscale=False, alpha=True, bitdepth=16).write(
            handle, pixels.reshape(height, -1).tolist()
        )
    return path


def test_save_keeps_16_bit_colour_and_alpha_exact(window, tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    rgb16 = rng.integers(0, 65536, (60, 80, 3), dtype=np.uint16)
    alpha16 = rng.integers(0, 65536, (60, 80), dtype=np.uint16)
    assert window.files.open_path(_png16(tmp_path / "deep.png", rgb16, alpha16))
    paint_box(window, Box(20, 20, 40, 40))
    apply_pixels(window, Box(20, 20, 40, 40), np.zeros((20, 20, 3), np.uint8))
    target = tmp_path / "saved.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    assert window.files.save()
    saved = load_image(target)
    keep = np.ones((60, 80), bool)
    keep[20:40, 20:40] = False
    # every alpha value outside the edit, none rounded to 8 bits; the generated pixels are opaque
    np.testing.assert_array_equal(saved.alpha16[keep], alpha16[keep])
    assert saved.alpha16[20:40, 20:40].min() == 65535
    np.testing.assert_array_equal(saved.rgb16[keep], rgb16[keep])


def _glide(path, manifest_bytes):
    import zipfile

    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", manifest_bytes)
    return path


def test_a_refused_file_always_shows_a_dialog(window, tmp_path, dialogs):
    bomb = tmp_path / "bomb.png"
    Image.fromarray(photo(64, 64)).save(bomb)
    data = bomb.read_bytes()
    cut = data.index(b"IDAT") - 4
    body = b"Comment\0\0" + zlib.compress(b"x" * (80 * 1024 * 1024), 9)  # more than a text chunk may hold
    chunk = len(body).to_bytes(4, "big") + b"zTXt" + body + zlib.crc32(b"zTXt" + body).to_bytes(4, "big")
    bomb.write_bytes(data[:cut] + chunk + data[cut:])
    hostile = [
        _glide(tmp_path / "deep.glide", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
        _glide(
            tmp_path / "types.glide",
            json.dumps({"format": "glide-studio-project", "version": 1, "width": "x"}),
        ),
        _glide(tmp_path / "version.glide", json.dumps({"format": "glide-studio-project", "version": "one"})),
        bomb,
    ]
    for path in hostile:
        shown = len(dialogs.shown)
        assert not window.files.open_path(path)
        assert len(dialogs.shown) == shown + 1, f"{path.name}: a dialog, not only a line on stderr"
        kind, title, text = dialogs.shown[-1]
        assert kind == "critical" and title.startswith("Cannot open") and path.name in text
    assert "version 'one' is malformed" in dialogs.shown[2][2]


def test_an_unexpected_failure_while_opening_is_a_dialog_too(window, tmp_path, dialogs, monkeypatch):
    from glide_studio.qt import file_actions

    def broken(path):
        raise RuntimeError("something nobody foresaw")

    monkeypatch.setattr(file_actions.Document, "open", staticmethod(broken))
    path = tmp_path / "odd.png"
    Image.fromarray(photo(8, 8)).save(path)
    assert not window.files.open_path(path)
    assert dialogs.shown[-1][0] == "critical" and "something nobody foresaw" in dialogs.shown[-1][2]


def test_a_damaged_autosave_is_offered_to_discard_and_the_studio_starts(
    qtbot, qapp, settings, factory, tmp_path, monkeypatch
):
    folder = tmp_path / "autosave"
    folder.mkdir()
    (folder / "session-4194311-1.json").write_text(json.dumps({"pid": 4194311, "edits": {"1": 2}}))
    (folder / "session-4194311-1.glide").write_bytes(b"whatever")
    (folder / "session-4194312-1.json").write_text(json.dumps({"pid": 4194312, "saved_at": 1.0}))
    (folder / "session-4194312-1.glide").write_bytes(b"PK\x03\x04 damaged")
    offered = []
    monkeypatch.setattr(
        recovery, "ask_discard_damaged", lambda parent, found, problem: offered.append(problem) or "discard"
    )
    monkeypatch.setattr(recovery, "ask_restore", lambda parent, found: "restore")
    win = MainWindow(settings=settings, backend_factory=factory, data_folder=folder)
    qtbot.addWidget(win)
    assert not win.recovery.offer_restore(win.files.replace)
    assert len(offered) == 2 and all("cannot be restored" in p or "damaged" in p for p in offered)
    assert not any(p.suffix in (".json", ".glide") for p in folder.iterdir()), "both discarded"
    win.close()


def test_foreign_text_keys_are_dropped_and_said(window, tmp_path, monkeypatch):
    source = tmp_path / "foreign.png"
    Image.fromarray(photo(40, 30)).save(source)
    data = source.read_bytes()
    cut = data.index(b"IDAT") - 4
    body = b"k" * 80 + b"\0value"
    chunk = len(body).to_bytes(4, "big") + b"tEXt" + body + zlib.crc32(b"tEXt" + body).to_bytes(4, "big")
    source.write_bytes(data[:cut] + chunk + data[cut:])
    assert window.files.open_path(source)
    messages = []
    window.files.message.connect(messages.append)
    target = tmp_path / "out.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    assert window.files.save_as()
    assert target.is_file() and "left out 1 text field" in messages[-1]


def test_restore_of_a_damaged_project_is_refused_without_stopping(tmp_path):
    from glide_studio.core.editing.autosave import find_recoverable

    (tmp_path / "session-4194313-1.json").write_text(json.dumps({"pid": 4194313, "saved_at": 1.0}))
    (tmp_path / "session-4194313-1.glide").write_bytes(b"not a zip")
    (found,) = find_recoverable(tmp_path)
    try:
        found.restore()
    except ProjectError as exc:
        assert "session-4194313-1.glide" in str(exc)
