"""The window says why the models could not load when a named weights folder lacks them,
and that the upsampler is missing when it is."""

from __future__ import annotations

from glide_studio.core.runtime.engine import load_local_backend
from glide_studio.core.weights.checkpoints import save_checkpoint
from glide_studio.qt.main_window import MainWindow
from tiny_models import TINY_BASE, random_model


def test_named_folder_without_weights_is_shown_not_replaced_by_the_demo(
    qtbot, qapp, settings, dialogs, tmp_path
):
    folder = tmp_path / "nowhere"

    def factory():
        return load_local_backend(weights_dir=folder, device="cpu")

    win = MainWindow(settings=settings, backend_factory=factory)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: "question" in dialogs.kinds(), timeout=30_000)
    _, title, text = dialogs.shown[-1]
    assert title == "The model could not be loaded"
    assert "base_inpaint.pt" in text and str(folder) in text and "https://" in text
    assert win.status.model_label.text() == "Model not loaded"
    assert "base_inpaint.pt" in win.status.model_label.toolTip()
    assert win.service.info is None  # no silent demo model
    win.close()
    qtbot.waitUntil(win.service.thread.isFinished, timeout=20_000)  # a hang guard


def test_missing_upsampler_is_stated_in_the_status_bar(qtbot, qapp, settings, dialogs, tmp_path):
    weights = tmp_path / "weights"
    save_checkpoint(weights / "base_inpaint.pt", random_model(TINY_BASE, seed=1), options=TINY_BASE)

    def factory():
        return load_local_backend(weights_dir=weights, device="cpu")

    win = MainWindow(settings=settings, backend_factory=factory)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.service.info is not None, timeout=30_000)
    assert "upsample_inpaint.pt is not in" in win.status.currentMessage()
    assert str(weights) in win.status.model_label.toolTip()
    assert not win.prompt_panel.upsample.isEnabled() and not win.prompt_panel.upsample.isChecked()
    win.close()
    qtbot.waitUntil(win.service.thread.isFinished, timeout=20_000)  # a hang guard
