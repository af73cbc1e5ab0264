"""History, candidates and prompt panels, the download dialog and the command-line entry."""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PySide6.QtCore import Qt
from qt_helpers import apply_pixels, collect, open_photo, paint_box

from glide_studio.core.generation.backend import BackendInfo
from glide_studio.core.generation.events import Finished
from glide_studio.core.generation.presets import PRESETS
from glide_studio.core.imaging.region import Box
from glide_studio.core.weights.store import DownloadCancelled
from glide_studio.qt.dialogs import DownloadDialog
from glide_studio.qt.icons import ICONS, app_icon, icon
from glide_studio.qt.worker import describe_failure


def _edit(window, box: Box, value: int, prompt: str):
    doc = window.session_model.document
    paint_box(window, box)
    apply_pixels(window, box, np.full((box.height, box.width, 3), value, np.uint8), prompt=prompt, seed=1)
    return doc.rgb.copy()


def test_history_lists_edits_and_clicking_goes_back(qtbot, window):
    doc = open_photo(window)
    original = doc.rgb.copy()
    first = _edit(window, Box(10, 10, 40, 40), 0, "a dark square")
    _edit(window, Box(60, 60, 90, 90), 255, "a light square")
    items = window.history.list
    assert [items.item(i).text().splitlines()[0] for i in range(items.count())] == [
        "Original", "a dark square", "a light square",
    ]  # fmt: skip
    assert "seed 1" in items.item(1).text()
    rect = items.visualItemRect(items.item(1))
    qtbot.mouseClick(items.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    np.testing.assert_array_equal(doc.rgb, first)
    assert window.history.list.item(2).font().italic(), "undone edits stay listed, dimmed"
    window.history._clicked(window.history.list.item(0))
    np.testing.assert_array_equal(doc.rgb, original)
    assert doc.edits == ()
    window.session_model.session.redo()
    np.testing.assert_array_equal(doc.rgb, first)


def test_prompt_panel_presets_seed_and_enter(qtbot, window):
    panel = window.prompt_panel
    panel.preset.setCurrentIndex(panel.preset.findText("Quality"))
    quality = PRESETS["quality"]
    assert panel.preset_name == "quality"
    assert (panel.base_steps.text(), panel.upsample_steps.text()) == (
        quality.base.steps,
        quality.upsample.steps,
    )
    assert panel.settings().base == quality.base
    panel.base_steps.setText("77")
    panel.base_steps.textEdited.emit("77")
    assert panel.preset.currentText() == "Custom" and panel.preset_name == "custom"
    panel.lock.setChecked(False)
    seeds = {panel.next_seed() for _ in range(5)}
    assert len(seeds) > 1, "unlocked: a new seed every run"
    panel.lock.setChecked(True)
    panel.seed.setValue(1234)
    assert panel.next_seed() == 1234 == panel.next_seed()
    requested = []
    panel.generateRequested.connect(lambda: requested.append(1))
    panel.prompt.setFocus()
    qtbot.keyClicks(panel.prompt, "a cat")
    qtbot.keyClick(panel.prompt, Qt.Key.Key_Return)
    assert requested == [1] and panel.prompt.toPlainText() == "a cat"


def test_candidate_keys_and_stale_candidates(qtbot, window, dialogs):
    doc = open_photo(window)
    _edit(window, Box(0, 0, 5, 5), 0, "something else")
    before = doc.rgb.copy()
    paint_box(window, Box(40, 30, 90, 80))
    window.prompt_panel.set_steps("2", "2")
    window.prompt_panel.upsample.setChecked(False)
    window.prompt_panel.candidates.setValue(3)
    finished = []
    collect(window.service, Finished, finished)
    qtbot.waitUntil(lambda: window.service.info is not None, timeout=30_000)
    assert window.generation.generate()
    qtbot.waitUntil(lambda: bool(finished), timeout=60_000)
    window.actions_.candidate_keys[2].trigger()
    assert window.candidates.current == 2 and window.canvas.preview_showing
    window.canvas.set_comparing(True)
    assert window.canvas._preview.opacity() == 0.0
    window.canvas.set_comparing(False)
    window.history._clicked(window.history.list.item(0))  # back to the original: the candidates go stale
    assert window.session_model.session.stale and not window.candidates.apply_button.isEnabled()
    assert not window.generation.apply()
    assert dialogs.shown[-1][1] == "Cannot apply"
    assert not np.array_equal(doc.rgb, before), "the undo stands; nothing was applied over it"
    window.actions_.discard.trigger()
    assert window.candidates.count == 0 and not window.canvas.preview_showing


class _FakeStore:
    def __init__(self, folder: Path, *, endless: bool = False) -> None:
        self.folder = folder
        self.endless = endless
        self.downloaded: list[str] = []
        self.started = threading.Event()

    def entry(self, name):
        return SimpleNamespace(filename=f"{name}.pt", approx_bytes=1000)

    def has(self, name):
        return name in self.downloaded

    def path(self, name):
        return self.folder / f"{name}.pt"

    def download(self, name, *, progress, cancel):
        done = 0
        while done < 1000 or self.endless:
            if cancel():
                raise DownloadCancelled(self.path(name))
            done = min(done + 250, 1000)
            progress(done, 1000)
            self.started.set()
            time.sleep(0.02)
        self.downloaded.append(name)


def test_download_dialog_fetches_and_can_be_cancelled(qtbot, tmp_path):
    store = _FakeStore(tmp_path)
    dialog = DownloadDialog(store, ["base-inpaint", "encoder"], demo=True)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        dialog.start()
    assert store.downloaded == ["base-inpaint", "encoder"] and dialog.bar.value() == 1000
    slow = _FakeStore(tmp_path, endless=True)
    dialog = DownloadDialog(slow, ["base-inpaint"], demo=False)
    qtbot.addWidget(dialog)
    dialog.start()
    assert slow.started.wait(30)  # a hang guard
    with qtbot.waitSignal(dialog.rejected, timeout=10_000):
        dialog.cancel()
    assert not dialog.running and not slow.downloaded


def test_status_bar_says_when_the_model_is_a_demo(window):
    info = BackendInfo(
        description="built-in demo model",
        device_label="CPU (1 threads)",
        base_resolution=32,
        upsample_resolution=None,
        is_demo=True,
        missing=("base-inpaint",),
    )
    window.service.backendReady.emit(info)
    assert "Demo model" in window.status.model_label.text()
    assert window.status.download_button.isVisibleTo(window.status)
    real = BackendInfo(
        description="GLIDE (filtered) base-inpaint + upsample-inpaint",
        device_label="GPU: X",
        base_resolution=64,
        upsample_resolution=256,
    )
    window.service.backendReady.emit(real)
    assert window.status.model_label.text().startswith("Model: GLIDE")
    assert not window.status.download_button.isVisibleTo(window.status)


def test_failure_messages():
    import torch

    assert "out of memory" in describe_failure(torch.OutOfMemoryError("CUDA"))
    assert describe_failure(ValueError("bad")) == "ValueError: bad"
    denied = PermissionError(13, "Permission denied", "/models/base_inpaint.pt")
    assert describe_failure(denied) == "/models/base_inpaint.pt: permission denied"


def test_icons_render(qapp):
    for name in ICONS:
        assert not icon(name).isNull(), name
    assert not app_icon().isNull()


def test_gui_command_parses_without_importing_qt():
    from glide_studio.commands import gui

    parser = argparse.ArgumentParser()
    gui.add_arguments(parser)
    args = parser.parse_args(["photo.png", "--device", "cpu", "--settings", "s.ini"])
    assert (args.image, args.device, args.settings, args.weights_dir) == ("photo.png", "cpu", "s.ini", None)
