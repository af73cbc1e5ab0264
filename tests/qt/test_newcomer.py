"""What a newcomer tripped over: selection frames, compare keys and button, focus after a run,
transparency, the demo model's honest settings, brush size on big photos."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication
from qt_helpers import Watched, backend_of, collect, fast_settings, open_photo, paint_box

from glide_studio.core.editing.document import Document
from glide_studio.core.editing.session import EditingSession
from glide_studio.core.generation.backend import BackendInfo
from glide_studio.core.generation.events import Finished, Preview
from glide_studio.core.generation.presets import RecommendedSampling
from glide_studio.core.imaging.region import Box
from glide_studio.qt.main_window import MainWindow


def _generate(qtbot, window, *, candidates=2):
    finished = []
    collect(window.service, Finished, finished)
    qtbot.waitUntil(lambda: window.service.info is not None, timeout=30_000)
    fast_settings(window, base="2", candidates=candidates)
    window.prompt_panel.prompt.setFocus()
    qtbot.keyClick(window.prompt_panel.prompt, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: bool(finished), timeout=60_000)


def _pixels(icon: QIcon, mode: QIcon.Mode) -> bytes:
    image = icon.pixmap(64, 64, mode).toImage()
    return bytes(image.constBits())


def test_selected_thumbnails_keep_their_colours(qtbot, window):
    open_photo(window)
    paint_box(window, Box(40, 30, 90, 80))
    _generate(qtbot, window)
    item = window.candidates.list.item(window.candidates.current)
    assert _pixels(item.icon(), QIcon.Mode.Selected) == _pixels(item.icon(), QIcon.Mode.Normal)


def test_after_enter_the_keys_reach_the_candidates_and_compare_shows_the_clean_original(qtbot, window):
    open_photo(window)
    paint_box(window, Box(40, 30, 90, 80))
    _generate(qtbot, window, candidates=3)
    assert QApplication.focusWidget() is window.canvas, "focus returns to the canvas after Generate"
    qtbot.keyClick(window.canvas, Qt.Key.Key_3)
    assert window.candidates.current == 2 and window.session_model.session.run.selected == 2
    window.prompt_panel.prompt.setFocus()
    text = window.prompt_panel.prompt.toPlainText()
    qtbot.keyPress(window.prompt_panel.prompt, Qt.Key.Key_Backslash)
    assert window.canvas.comparing and window.canvas._mask.opacity() == 0.0
    assert window.canvas._preview.opacity() == 0.0, "no preview and no mask overlay: the clean original"
    qtbot.keyRelease(window.prompt_panel.prompt, Qt.Key.Key_Backslash)
    assert not window.canvas.comparing and window.prompt_panel.prompt.toPlainText() == text
    window.candidates.compare_button.click()
    assert window.canvas.comparing
    window.candidates.compare_button.click()
    assert not window.canvas.comparing


def test_ctrl_z_right_after_apply_undoes_the_edit(qtbot, window):
    doc = open_photo(window)
    before = doc.rgb.copy()
    paint_box(window, Box(40, 30, 90, 80))
    _generate(qtbot, window)
    window.prompt_panel.prompt.setFocus()
    window.candidates.apply_button.click()
    assert doc.edits and QApplication.focusWidget() is window.canvas
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(doc.rgb, before)


def test_transparent_pictures_are_drawn_on_a_checkerboard(qtbot, window):
    rgb = np.full((100, 100, 3), (255, 0, 0), np.uint8)
    alpha = np.zeros((100, 100), np.uint8)
    alpha[:, 50:] = 255
    window.files.replace(EditingSession(Document(rgb, alpha=alpha)))
    window.canvas.set_zoom(2.0)
    window.canvas.centerOn(50, 50)
    qtbot.wait(20)
    shot = window.canvas.viewport().grab().toImage()
    left = window.canvas.mapFromScene(25, 50)
    right = window.canvas.mapFromScene(75, 50)
    grey = {shot.pixelColor(left.x() + dx, left.y()).red() for dx in range(0, 24, 3)}
    assert grey <= {153, 204} and len(grey) == 2, "transparent pixels show both checker greys"
    assert shot.pixelColor(right).getRgb()[:3] == (255, 0, 0)


def _demo_info(*, upsample_resolution: int | None, sampling: dict) -> BackendInfo:
    return BackendInfo(
        description="built-in demo models",
        device_label="CPU",
        is_demo=True,
        threads=1,
        base_resolution=32,
        upsample_resolution=upsample_resolution,
        sampling=RecommendedSampling.from_mapping(sampling),
    )


def test_the_demo_model_shows_its_own_sampling_and_no_upsampler(qtbot, window):
    info = _demo_info(
        upsample_resolution=None, sampling={"sampler": "ancestral", "steps": "50", "guidance_scale": 3.0}
    )
    window.backends.on_backend_ready(info)
    panel = window.prompt_panel
    assert panel.preset.currentText() == "Demo model · 50 steps"
    assert not panel.upsample.isChecked() and not panel.upsample.isEnabled()
    assert panel.settings().use_upsampler is False
    window.backends.on_backend_ready(replace(info, upsample_resolution=256, is_demo=False))
    assert panel.upsample.isEnabled() and panel.upsample.isChecked(), "the user's choice comes back"


def test_the_two_stage_demo_offers_its_own_upsampler_steps_and_size(qtbot, window):
    info = _demo_info(
        upsample_resolution=128,
        sampling={
            "sampler": "ancestral",
            "steps": "50",
            "upsample_sampler": "ancestral",
            "upsample_steps": "fast27",
            "guidance_scale": 3.0,
        },
    )
    window.backends.on_backend_ready(info)
    panel = window.prompt_panel
    assert panel.preset.currentText() == "Demo model · 50 + fast27 steps"
    assert panel.upsample.text() == "Upsample to 128 px" and panel.upsample.isEnabled()
    assert "32 px → 128 px" in panel.upsample.toolTip()
    settings = panel.settings()
    assert settings.use_upsampler is True
    assert settings.upsample.steps == "fast27" and settings.base.steps == "50"
    panel.upsample_steps.clear()
    qtbot.keyClicks(panel.upsample_steps, "10")  # typed by the user
    assert panel.preset_name != "model", "a changed upsampler step count is a custom setting"
    panel.select_preset("model")
    assert panel.upsample_steps.text() == "fast27"
    panel.select_preset("balanced")  # the presets name each stage's sampler
    balanced = panel.settings()
    assert (balanced.base.sampler, balanced.upsample.sampler) == ("dpm++2m", "ddim")
    panel.select_preset("model")
    assert panel.settings().upsample.sampler == "ancestral"
    window.backends.on_backend_ready(replace(info, upsample_resolution=256))
    assert panel.upsample.text() == "Upsample to 256 px"


@pytest.mark.slow
def test_big_photos_get_a_brush_that_fits_and_thin_strokes_are_warned_about(qtbot, window):
    open_photo(window, 4000, 3000)
    assert window.canvas.brush_size == 200, "a fifteenth of the short side, not 40 px"
    open_photo(window, 2400, 1800)
    assert window.canvas.brush_size == 200, "a size that suits this picture too is kept"
    messages = []
    window.generation.message.connect(messages.append)
    qtbot.waitUntil(lambda: window.service.info is not None, timeout=30_000)
    fast_settings(window, base="2")
    for y in range(600, 1080, 60):
        paint_box(window, Box(600, y, 1200, y + 2))
    assert window.generation.generate()
    assert any("one pixel wide" in m for m in messages)
    qtbot.waitUntil(lambda: not window.service.busy, timeout=60_000)


def test_quitting_mid_run_leaves_promptly(qtbot, qapp, settings, tiny, tmp_path, dialogs):
    watched = Watched(tiny)
    win = MainWindow(
        settings=settings, backend_factory=lambda: backend_of(watched), data_folder=tmp_path / "autosave"
    )
    qtbot.addWidget(win)
    win.show()
    open_photo(win, 200, 150)
    paint_box(win, Box(40, 30, 120, 110))
    previews = []
    collect(win.service, Preview, previews)
    qtbot.waitUntil(lambda: win.service.info is not None, timeout=30_000)
    fast_settings(win, base="200")
    assert win.generation.generate()
    qtbot.waitUntil(lambda: bool(previews), timeout=30_000)
    win.actions_.quit.trigger()
    assert not win.isVisible()
    assert watched.cancelled, "quitting cancels the run"
    # A hang guard only; "promptly" is counted in steps (the latency is benchmarks/stop_latency.py's).
    qtbot.waitUntil(win.service.thread.isFinished, timeout=20_000)
    assert watched.steps_after_cancel() <= 1, "at most the step in progress finishes"
    assert len(previews) < 200
