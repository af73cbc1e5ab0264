"""Mask painting with real mouse events: brush, eraser, shapes, undo, zoom, the region square."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication
from qt_helpers import RIGHT, drag, open_photo

from glide_studio.core.imaging.region import region_of_interest
from glide_studio.qt.mask_tools import Tool


def _disc(shape, cx, cy, r):
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    return (x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= r * r


def test_brush_stroke_paints_along_the_path_and_is_one_undo_step(qtbot, window):
    doc = open_photo(window)
    window.canvas.set_brush_size(10)
    drag(qtbot, window, [(20, 60), (50, 60), (80, 60), (110, 60)])
    mask = doc.mask
    assert mask[60, 20:110].all(), "the stroke covers its path"
    assert mask[56:64, 60].all() and not mask[67:, :].any() and not mask[:53, :].any(), "about 10 px wide"
    assert not mask[:, 125:].any()
    steps = window.session_model.session.history.steps
    assert len(steps) == 1 and steps[0].label == "Brush stroke"
    painted = mask.copy()
    window.session_model.session.undo()
    assert not doc.mask.any()
    window.session_model.session.redo()
    np.testing.assert_array_equal(doc.mask, painted)


def test_eraser_and_right_button_remove_from_the_mask(qtbot, window):
    doc = open_photo(window)
    window.canvas.set_brush_size(30)
    drag(qtbot, window, [(40, 40), (120, 40), (120, 80), (40, 80)])
    assert doc.mask[40, 80] and doc.mask[80, 80]
    window.set_tool(Tool.ERASER)
    window.canvas.set_brush_size(8)
    drag(qtbot, window, [(80, 20), (80, 100)])
    assert not doc.mask[30:90, 78:82].any(), "the eraser cleared a vertical band"
    assert doc.mask[40, 50] and doc.mask[40, 110], "and nothing else"
    window.set_tool(Tool.BRUSH)
    drag(qtbot, window, [(50, 40), (50, 40)], button=RIGHT)
    assert not doc.mask[40, 50], "right button with the brush erases"
    assert len(window.session_model.session.history.steps) == 3
    labels = [s.label for s in window.session_model.session.history.steps]
    assert labels == ["Brush stroke", "Erase stroke", "Erase stroke"]


def test_single_click_and_shift_click_line(qtbot, window):
    doc = open_photo(window)
    window.canvas.set_brush_size(6)
    drag(qtbot, window, [(30, 30)])
    assert doc.mask[30, 30] and 15 < doc.mask.sum() < 60, "one dab: a 6 px disc"
    assert not (doc.mask & ~_disc(doc.mask.shape, 30, 30, 4.5)).any()
    drag(qtbot, window, [(130, 30)], modifier=Qt.KeyboardModifier.ShiftModifier)
    assert doc.mask[30, 30:130].all(), "shift+click joins the dabs with a straight line"


def test_rectangle_and_lasso_fill_and_subtract(qtbot, window):
    doc = open_photo(window)
    window.set_tool(Tool.RECTANGLE)
    drag(qtbot, window, [(20, 20), (50, 40), (80, 60)])
    expected = np.zeros_like(doc.mask)
    expected[20:60, 20:80] = True
    assert np.abs(doc.mask.astype(int) - expected).sum() <= 2 * (40 + 60), (
        "a 60×40 box (edges within a pixel)"
    )
    assert doc.mask[25:55, 25:75].all()
    drag(qtbot, window, [(30, 30), (40, 40)], button=RIGHT)
    assert not doc.mask[32:38, 32:38].any() and doc.mask[50, 70], "right-drag subtracts"
    window.set_tool(Tool.LASSO)
    drag(qtbot, window, [(100, 70), (150, 70), (150, 110), (100, 110), (100, 72)])
    assert doc.mask[75:105, 105:145].all() and not doc.mask[65, 120] and not doc.mask[90, 155]
    assert len(window.session_model.session.history.steps) == 3
    window.session_model.session.undo()
    assert not doc.mask[75:105, 105:145].any()


def test_undo_data_is_a_compact_patch(qtbot, window):
    doc = open_photo(window, 1200, 900)
    window.canvas.set_brush_size(20)
    drag(qtbot, window, [(500, 400), (540, 420)])
    patch = window.session_model.session.history.steps[0].patch
    assert patch.box.width <= 62 and patch.box.height <= 42
    assert patch.nbytes < 2 * (62 * 42) // 8 + 16, "bit-packed, just the stroke's box"
    assert doc.mask.sum() > 0


def test_select_all_clear_invert_are_undoable(qtbot, window):
    doc = open_photo(window)
    window.actions_.select_all.trigger()
    assert doc.mask.all()
    window.actions_.clear_mask.trigger()
    assert not doc.mask.any()
    window.actions_.invert_mask.trigger()
    assert doc.mask.all()
    window.session_model.session.undo()
    window.session_model.session.undo()
    assert doc.mask.all()
    window.session_model.session.undo()
    assert not doc.mask.any()


def test_brush_size_keys_slider_and_cursor(qtbot, window):
    open_photo(window)
    window.canvas.setFocus()
    window.canvas.set_brush_size(40)
    qtbot.keyClick(window.canvas, Qt.Key.Key_BracketRight)
    assert window.canvas.brush_size == 46
    qtbot.keyClick(window.canvas, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(window.canvas, Qt.Key.Key_BracketLeft)
    assert window.canvas.brush_size < 40
    assert window.brush_spin.value() == window.canvas.brush_size
    window.brush_spin.setValue(12)
    assert window.canvas.brush_size == 12
    window.brush_slider.setValue(1000)
    assert window.canvas.brush_size == 1000


def test_region_square_follows_the_mask(qtbot, window):
    doc = open_photo(window)
    assert window.canvas.region_rect is None
    window.canvas.set_brush_size(10)
    drag(qtbot, window, [(60, 50), (90, 60)])
    qtbot.waitUntil(lambda: window.canvas.region_rect is not None)
    box = region_of_interest(doc.mask_box(), doc.width, doc.height)
    rect = window.canvas.region_rect
    assert (rect.left(), rect.top(), rect.width(), rect.height()) == (
        box.left,
        box.top,
        box.width,
        box.height,
    )
    window.actions_.clear_mask.trigger()
    qtbot.waitUntil(lambda: window.canvas.region_rect is None)


def test_zoom_with_ctrl_wheel_keys_and_fit(qtbot, window):
    open_photo(window, 800, 600)
    canvas = window.canvas
    fitted = canvas.zoom
    assert 0.5 < fitted < 1.5
    center = QPointF(canvas.viewport().rect().center())
    event = QWheelEvent(
        center, canvas.viewport().mapToGlobal(center), QPoint(), QPoint(0, 240),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.ControlModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    QApplication.sendEvent(canvas.viewport(), event)
    assert canvas.zoom > fitted * 1.3
    window.actions_.zoom_out.trigger()
    window.actions_.zoom_actual.trigger()
    assert canvas.zoom == 1.0
    window.actions_.zoom_fit.trigger()
    assert abs(canvas.zoom - fitted) < 1e-6


def test_space_drag_pans(qtbot, window):
    open_photo(window, 2000, 1500)
    canvas = window.canvas
    canvas.actual_size()
    canvas.setFocus()
    before = canvas.horizontalScrollBar().value()
    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    viewport = canvas.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=QPoint(400, 300))
    qtbot.mouseMove(viewport, QPoint(300, 300))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=QPoint(300, 300))
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    assert canvas.horizontalScrollBar().value() == before + 100
    assert not window.session_model.document.mask.any(), "panning does not paint"
    viewport_mid = QPoint(300, 300)
    qtbot.mousePress(viewport, Qt.MouseButton.MiddleButton, pos=viewport_mid)
    qtbot.mouseMove(viewport, QPoint(300, 250))
    qtbot.mouseRelease(viewport, Qt.MouseButton.MiddleButton, pos=QPoint(300, 250))
    assert not window.session_model.document.mask.any()


def test_keyboard_undo_redo_and_tool_keys(qtbot, window):
    doc = open_photo(window)
    window.activateWindow()
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_R)
    assert window.canvas.tool is Tool.RECTANGLE and window.actions_.tools[Tool.RECTANGLE].isChecked()
    drag(qtbot, window, [(10, 10), (40, 40)])
    qtbot.keyClick(window.canvas, Qt.Key.Key_B)
    assert window.canvas.tool is Tool.BRUSH
    drag(qtbot, window, [(100, 100), (120, 100)])
    both = doc.mask.copy()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert doc.mask[20, 20] and not doc.mask[100, 110]
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not doc.mask.any()
    redo = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, redo)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, redo)
    np.testing.assert_array_equal(doc.mask, both)


def test_region_label_stays_on_the_picture_when_the_square_touches_its_top(qtbot):
    from glide_studio.core.imaging.region import Box
    from glide_studio.qt.overlays import RegionItem

    item = RegionItem()
    item.set_box(Box(left=10, top=40, right=74, bottom=104), 64)
    label = item.childItems()[-1]
    above = label.mapToParent(label.boundingRect()).boundingRect()
    assert above.bottom() < 40, "normally the tag sits above the square"
    item.set_box(Box(left=10, top=0, right=74, bottom=64), 64)
    inside = label.mapToParent(label.boundingRect()).boundingRect()
    assert inside.top() > 0, "at the picture's top edge it hangs inside the square"
