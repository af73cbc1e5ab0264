"""The paper's toolbox in the studio: a new canvas, colour sketches with a strength, CLIP guidance."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QDialog
from qt_helpers import LEFT, collect, drag, fast_settings, open_photo

from glide_studio.core.generation.events import Finished, Preview
from glide_studio.qt import file_actions
from glide_studio.qt.mask_tools import Tool


def test_file_new_makes_a_blank_canvas_masked_whole(qtbot, window, monkeypatch):
    monkeypatch.setattr(file_actions.NewCanvasDialog, "exec", lambda self: QDialog.DialogCode.Accepted)
    monkeypatch.setattr(file_actions.NewCanvasDialog, "size", lambda self: (320, 192))
    assert window.files.new_canvas()
    doc = window.session_model.document
    assert (doc.width, doc.height) == (320, 192) and doc.mask.all() and doc.modified
    assert window.prompt_panel.generate_button.isEnabled() or not window.prompt_panel.prompt.toPlainText()


def test_a_colour_stroke_sketches_masks_and_undoes(qtbot, window):
    doc = open_photo(window)
    window.set_tool(Tool.COLOUR)
    window.canvas.set_colour((10, 200, 30))
    window.canvas.set_brush_size(12)
    drag(qtbot, window, [(40, 60), (90, 60)], LEFT)
    assert doc.sketch is not None and doc.sketch.painted[60, 40:90].all()
    assert tuple(doc.sketch.colours[60, 60]) == (10, 200, 30) and doc.mask[60, 40:90].all()
    assert window.session_model.session.history.steps[-1].label == "Colour stroke"
    assert window.prompt_panel.strength_row.isVisible()
    request = window.session_model.session.request_for(window.prompt_panel.settings())
    assert request.sketch is not None and tuple(request.sketch[60, 60]) == (10, 200, 30)
    assert request.strength == 0.75
    window.actions_.undo.trigger()
    assert not doc.sketch.painted.any() and not doc.mask.any()
    assert not window.prompt_panel.strength_row.isVisible()


def test_alt_click_picks_a_colour_from_the_picture(qtbot, window):
    from PySide6.QtCore import Qt
    from qt_helpers import to_view

    doc = open_photo(window)
    window.set_tool(Tool.COLOUR)
    alt = Qt.KeyboardModifier.AltModifier
    qtbot.mouseClick(window.canvas.viewport(), LEFT, alt, to_view(window, 30.5, 20.5))
    assert window.canvas.colour == tuple(int(v) for v in doc.rgb[20, 30])
    assert not doc.mask.any(), "picking a colour paints nothing"


def test_a_sketch_edit_runs_applies_and_clears_the_sketch(qtbot, window):
    doc = open_photo(window)
    window.set_tool(Tool.COLOUR)
    window.canvas.set_brush_size(20)
    drag(qtbot, window, [(50, 50), (90, 70)], LEFT)
    finished = []
    collect(window.service, Finished, finished)
    qtbot.waitUntil(lambda: window.service.info is not None, timeout=30_000)
    fast_settings(window, base="4")
    window.prompt_panel.strength.setValue(50)
    assert window.generation.generate()
    qtbot.waitUntil(lambda: bool(finished), timeout=60_000)
    run_request = window.session_model.session.run.request
    assert run_request.sketch is not None and run_request.strength == 0.5
    assert window.generation.apply()
    assert doc.sketch.empty and "sketch_strength" in doc.edits[-1].parameters
    window.actions_.undo.trigger()
    assert not doc.sketch.empty, "undoing the edit brings the sketch back"


def test_clip_guidance_is_offered_and_needs_the_ancestral_sampler(qtbot, window):
    panel = window.prompt_panel
    panel.guide.setCurrentIndex(panel.guide.findData("clip"))
    assert panel.clip_scale.isVisibleTo(panel)
    panel.select_preset("balanced")
    assert "ancestral" in panel.status_label.text() and not panel.generate_button.isEnabled()
    panel.select_preset("release")
    assert panel.settings().clip_guidance == panel.clip_scale.value()
    panel.guide.setCurrentIndex(0)
    assert panel.settings().clip_guidance == 0.0
    assert np.isclose(panel.values().clip_scale, panel.clip_scale.value())


def test_extend_canvas_then_outpaint_square_by_square(qtbot, window, monkeypatch):
    from glide_studio.qt import main_window as main_window_module

    doc = open_photo(window, 96, 64)
    original = doc.rgb.copy()
    qtbot.waitUntil(lambda: window.service.info is not None, timeout=30_000)
    fast_settings(window, base="2")
    monkeypatch.setattr(main_window_module.ExtendDialog, "exec", lambda self: QDialog.DialogCode.Accepted)
    monkeypatch.setattr(
        main_window_module.ExtendDialog,
        "values",
        lambda self: {"left": 0, "top": 0, "right": 96, "bottom": 0},
    )
    previews, finished = [], []
    collect(window.service, Preview, previews)
    collect(window.service, Finished, finished)
    window.extend_canvas()
    doc = window.session_model.document
    assert (doc.width, doc.height) == (192, 64) and doc.mask[:, 96:].all()
    assert window.canvas.scene().sceneRect().width() == 192, "the canvas shows the larger picture"
    qtbot.waitUntil(lambda: bool(finished), timeout=120_000)
    assert len({(p.box.left, p.box.top) for p in previews}) >= 2, "the new area is filled square by square"
    assert window.generation.apply()
    assert not np.array_equal(doc.rgb[:, 96:], np.repeat(original[:, -1:], 96, axis=1))
    window.actions_.undo.trigger()  # the fill
    window.actions_.undo.trigger()  # the extension
    assert (doc.width, doc.height) == (96, 64)
    np.testing.assert_array_equal(doc.rgb, original)


def test_ctrl_dragging_beyond_an_edge_extends_and_generate_fills(qtbot, window):
    from PySide6.QtCore import Qt
    from qt_helpers import drag

    doc = open_photo(window, 96, 64)
    window.canvas.set_zoom(2.0)
    window.canvas.centerOn(96, 32)
    drag(qtbot, window, [(98, 30), (130, 30), (160, 30)], LEFT, Qt.KeyboardModifier.ControlModifier)
    doc = window.session_model.document
    assert (doc.width, doc.height) == (160, 64) and doc.mask[:, 96:].all() and not doc.mask[:, :96].any()
    assert window.session_model.session.just_extended
