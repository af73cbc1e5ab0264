"""Issue 26 in the window: transparency, an honest History, the project as the document, mask
tools, reuse and sharing, and state one can see."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QGuiApplication, QInputDevice, QPointingDevice, QTabletEvent
from PySide6.QtWidgets import QApplication, QScrollArea
from qt_helpers import apply_pixels, open_photo, paint_box, photo, to_view

from glide_studio.core.editing.document import Document
from glide_studio.core.editing.project import load_project
from glide_studio.core.editing.session import EditingSession
from glide_studio.core.generation.events import Candidate, Finished, Started
from glide_studio.core.imaging.region import Box
from glide_studio.qt.mask_tools import Tool


def _transparent(window) -> Document:
    rgba_alpha = np.zeros((120, 160), np.uint8)
    rgba_alpha[:, 80:] = 255  # the left half is see-through
    doc = Document(photo(), alpha=rgba_alpha)
    window.files.replace(EditingSession(doc))
    return doc


def _finished_run(window, box: Box, value: int, *, seed: int = 3):
    session = window.session_model.session
    request = session.document.request("a red square", seed=seed)
    session.start_run(request, model="test")
    patch = np.full((box.height, box.width, 3), value, np.uint8)
    cand = Candidate(index=0, seed=seed, box=box, patch=patch, original=request.image)
    session.handle(Started(stages=("base",), steps=(1,), seeds=(seed,), box=box))
    session.handle(Finished(candidates=(cand,), seconds=0.0))
    return cand


def test_an_edit_over_transparent_pixels_is_visible_in_preview_apply_and_save(qtbot, window, tmp_path):
    doc = _transparent(window)
    box = Box(10, 10, 40, 40)
    paint_box(window, box)
    _finished_run(window, box, 200)
    preview = window.canvas._preview
    assert preview.showing
    assert preview._image.pixelColor(15, 15).alpha() == 255, "the preview is what Apply makes: opaque"
    assert window.generation.apply()
    assert doc.alpha[10:40, 10:40].min() == 255 and doc.rgb[20, 20].tolist() == [200, 200, 200]
    assert doc.alpha[60, 20] == 0, "outside the edit nothing became opaque"
    window.files._write(doc, tmp_path / "out.png", remember=False)
    from PIL import Image

    with Image.open(tmp_path / "out.png") as saved:
        assert np.asarray(saved)[20, 20].tolist() == [200, 200, 200, 255]


def test_keep_transparency_is_a_choice_for_cut_outs(qtbot, window):
    doc = _transparent(window)
    box = Box(10, 10, 40, 40)
    paint_box(window, box)
    assert window.mask_panel.keep_transparency.isEnabled()
    window.mask_panel.keep_transparency.setChecked(True)
    _finished_run(window, box, 200)
    assert window.generation.apply()
    assert doc.alpha[10:40, 10:40].max() == 0 and doc.rgb[20, 20].tolist() == [200, 200, 200]
    edit = doc.edits[-1]
    assert edit.thumbnail.shape[2] == 4, "a transparent edit's thumbnail is drawn over a checkerboard"
    icon = window.history.list.item(1).icon().pixmap(48, 48).toImage()
    grey = {icon.pixelColor(x, y).name() for x in range(0, 40, 3) for y in range(0, 40, 3)}
    assert {"#cccccc", "#999999"} <= grey


def test_history_hides_later_candidates_and_the_original_thumbnail_is_the_original(qtbot, window):
    doc = open_photo(window)
    original = doc.rgb.copy()
    paint_box(window, Box(10, 10, 40, 40))
    apply_pixels(window, Box(10, 10, 40, 40), np.zeros((30, 30, 3), np.uint8), prompt="dark")
    paint_box(window, Box(60, 60, 90, 90))
    _finished_run(window, Box(60, 60, 90, 90), 250)
    assert window.candidates.count == 1 and window.canvas.preview_showing
    window.history._clicked(window.history.list.item(0))
    np.testing.assert_array_equal(doc.rgb, original)
    assert window.candidates.count == 0 and not window.canvas.preview_showing, (
        "no later run on an older picture"
    )
    window.session_model.session.redo()
    window.session_model.session.redo()
    assert not window.session_model.session.stale
    assert window.candidates.count == 1 and window.canvas.preview_showing, "they come back with their picture"
    icon = window.history.list.item(0).icon().pixmap(48, 36).toImage()
    # the Original's thumbnail shows the untouched corner, not the dark edit
    assert icon.pixelColor(5, 5).lightness() > 10


def test_history_is_disabled_during_a_run_and_lists_canvas_extensions(qtbot, window):
    open_photo(window)
    session = window.session_model.session
    session.extend_canvas(right=32)
    texts = [window.history.list.item(i).text() for i in range(window.history.list.count())]
    assert any("xtend" in t or "anvas" in t for t in texts[1:]), texts
    paint_box(window, Box(10, 10, 30, 30))
    session.start_run(session.document.request("x", seed=1), model="test")
    assert not window.history.list.isEnabled()
    session.fail("stopped")
    assert window.history.list.isEnabled()


def test_the_project_is_the_document(qtbot, window, tmp_path, dialogs, monkeypatch):
    doc = open_photo(window)
    doc.path = tmp_path / "photo-edited.png"
    paint_box(window, Box(10, 10, 40, 40))
    suggested = []

    def ask(_title, name, _filters):
        suggested.append(name)
        return tmp_path / "work.glide"

    monkeypatch.setattr(window.files, "_ask_path", ask)
    assert window.files._suggest(doc, ".png").endswith("photo-edited.png")
    assert "edited-edited" not in window.files._suggest(doc, ".png")
    window.prompt_panel.select_preset("fast")
    _finished_run(window, Box(10, 10, 40, 40), 100, seed=4242)
    assert window.files.save_project()
    assert "work.glide" in window.windowTitle()
    window.session_model.paint(Box(50, 50, 60, 60), np.ones((10, 10), bool), True)
    assert window.files.save(), "Ctrl+S saves to the project"
    assert len(suggested) == 1
    assert window.files._suggest(doc, ".png") == str(tmp_path / "work.png")
    again = load_project(tmp_path / "work.glide")
    assert again.document.mask[55, 55]
    window.prompt_panel.select_preset("quality")
    window.prompt_panel.seed.setValue(1)
    window.files.replace(again)
    assert window.prompt_panel.seed.value() == 4242 and window.prompt_panel.lock.isChecked()
    assert window.prompt_panel.preset_name != "quality"


def test_mask_tools_grow_shrink_wand_soft_edge_each_undoable(qtbot, window):
    doc = open_photo(window)
    session = window.session_model.session
    paint_box(window, Box(40, 40, 60, 60))
    before = int(doc.mask.sum())
    window.mask_panel.step.setValue(4)
    window.mask_actions[0].trigger()
    assert doc.mask.sum() > before and doc.mask[37, 50] and not doc.mask[35, 50]
    window.mask_actions[1].trigger()
    assert doc.mask.sum() == before
    session.undo()
    session.undo()
    assert doc.mask.sum() == before
    window.mask_panel.softness.setValue(6)
    window.mask_panel.softness.editingFinished.emit()
    assert session.edge_softness == 6
    session.undo()
    assert session.edge_softness == 0
    flat = np.full((60, 80, 3), 40, np.uint8)
    flat[:, 40:] = 220
    window.files.replace(EditingSession(Document(flat)))
    doc = window.session_model.document
    window.set_tool(Tool.WAND)
    qtbot.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=to_view(window, 10, 10))
    assert doc.mask[:, :40].all() and not doc.mask[:, 40:].any()
    qtbot.mouseClick(
        window.canvas.viewport(),
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.ShiftModifier,
        to_view(window, 60, 10),
    )
    assert doc.mask.all(), "Shift adds"
    qtbot.mouseClick(
        window.canvas.viewport(),
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.AltModifier,
        to_view(window, 10, 10),
    )
    assert not doc.mask[:, :40].any() and doc.mask[:, 40:].all(), "Alt subtracts"
    window.session_model.session.undo()
    assert doc.mask.all()


def test_pen_pressure_scales_the_brush(qtbot, window):
    open_photo(window)
    window.set_tool(Tool.BRUSH)
    window.canvas.set_brush_size(20)
    pen = QPointingDevice(
        "pen", 1, QInputDevice.DeviceType.Stylus, QPointingDevice.PointerType.Pen,
        QInputDevice.Capability.Position | QInputDevice.Capability.Pressure, 1, 3,
    )  # fmt: skip
    at = QPointF(to_view(window, 80, 60))
    press = QTabletEvent(
        QEvent.Type.TabletPress, pen, at, at, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0,
        Qt.KeyboardModifier.NoModifier, Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton,
    )  # fmt: skip
    QApplication.sendEvent(window.canvas.viewport(), press)
    assert window.canvas._tools.pressure == 0.25
    window.canvas._tools.begin(QPointF(80, 60), primary=True)
    window.canvas._finish_stroke()
    light = int(window.session_model.document.mask.sum())
    window.session_model.session.undo()
    qtbot.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=to_view(window, 80, 60))
    assert window.canvas._tools.pressure == 1.0, "a mouse paints at full size again"
    full = int(window.session_model.document.mask.sum())
    assert full > 8 * light > 0


def test_use_these_settings_and_copy_to_the_clipboard(qtbot, window):
    doc = open_photo(window)
    paint_box(window, Box(10, 10, 40, 40))
    window.prompt_panel.select_preset("fast")
    _finished_run(window, Box(10, 10, 40, 40), 90, seed=777)
    window.generation.apply()
    window.prompt_panel.prompt.setPlainText("something else")
    window.prompt_panel.seed.setValue(5)
    row = window.history.list.count() - 1
    assert window.history.use_settings_of(row)
    assert window.prompt_panel.prompt.toPlainText() == "a red square"
    assert window.prompt_panel.seed.value() == 777
    assert doc.mask[10:40, 10:40].all() and doc.mask.sum() == 900
    window.copy_action.trigger()
    image = QGuiApplication.clipboard().image()
    assert (image.width(), image.height()) == (160, 120)
    assert image.pixelColor(20, 20).red() == 90


def test_state_you_can_see(qtbot, window):
    open_photo(window)
    paint_box(window, Box(10, 10, 40, 40))
    qtbot.waitUntil(lambda: window.service.info is not None, timeout=30_000)
    window._update_ready()
    assert window.actions_.generate.isEnabled()
    _finished_run(window, Box(10, 10, 40, 40), 90)
    window.candidates.compare_button.setChecked(True)
    assert window.canvas.before_badge.isVisible() and window.candidates.compare_button.isChecked()
    window.candidates.compare_button.setChecked(False)
    assert not window.canvas.before_badge.isVisible()


def test_the_side_panels_scroll_at_1024_by_600(qtbot, window):
    window.resize(1024, 600)
    qtbot.wait(50)
    area = window.prompt_panel.parentWidget().parentWidget()
    assert isinstance(area, QScrollArea)
    generate = (
        window.prompt_panel.generate_button if hasattr(window.prompt_panel, "generate_button") else None
    )
    if generate is not None:
        area.ensureWidgetVisible(generate)
        assert generate.visibleRegion().boundingRect().height() > 0


def test_a_chosen_preset_comes_back_at_the_next_start(qtbot, window, settings):
    from glide_studio.core.generation.presets import RecommendedSampling
    from glide_studio.qt.panels.prompt_panel import PromptPanel

    window.prompt_panel.select_preset("fast")
    window.save_settings()
    panel = PromptPanel(settings.generation())
    qtbot.addWidget(panel)
    panel.apply_recommended(RecommendedSampling.from_mapping({"steps": "50", "guidance_scale": 3.0}))
    assert panel.preset_name == "fast", "a model's own sampling does not replace the user's choice"


def test_a_run_that_fails_to_start_keeps_the_seed(qtbot, window, monkeypatch, dialogs):
    from glide_studio.core.editing.session import SessionError

    open_photo(window)
    paint_box(window, Box(10, 10, 40, 40))
    qtbot.waitUntil(lambda: window.service.info is not None, timeout=30_000)
    window.prompt_panel.lock.setChecked(False)
    window.prompt_panel.seed.setValue(1234)
    session = window.session_model.session

    def refuse(*_a, **_k):
        raise SessionError("refused for the test")

    monkeypatch.setattr(session, "start_run", refuse)
    assert not window.generation.generate()
    assert window.prompt_panel.seed.value() == 1234
    assert [d for d in dialogs.shown if d[1] == "Cannot generate"], "one dialog says why"


def test_finished_outpainting_squares_stay_shown_while_the_next_runs(qtbot, window):
    from PySide6.QtGui import QColor, QImage

    from glide_studio.core.generation.request import OUTPAINT

    open_photo(window, 96, 64)
    session = window.session_model.session
    session.extend_canvas(right=96)
    request = session.request_for(window.prompt_panel.settings())
    assert request.kind == OUTPAINT
    run = session.start_run(request, model="test")

    def frame(colour):
        image = QImage(64, 64, QImage.Format.Format_ARGB32)
        image.fill(QColor(*colour))
        return image

    window.generation._outpainted_so_far(run, frame((255, 0, 0)), Box(96, 0, 160, 64))
    shown, box = window.generation._outpainted_so_far(run, frame((0, 0, 255)), Box(128, 0, 192, 64))
    assert box == Box(0, 0, 192, 64)
    assert shown.pixelColor(100, 10).red() == 255, "the first square stays"
    assert shown.pixelColor(170, 10).blue() == 255 and shown.pixelColor(10, 10).alpha() == 0
    session.fail("done")


def test_a_bad_step_count_is_answered_in_a_users_words(qtbot, window):
    open_photo(window)
    paint_box(window, Box(10, 10, 20, 20))
    window.prompt_panel.set_steps("abc", "2")
    text = window.prompt_panel.status_label.text()
    assert "“abc” cannot be used" in text and "respacing" not in text
    assert not window.prompt_panel.generate_button.isEnabled()


def test_a_soft_colour_brush_fades_its_edge_and_undoes_in_one_step(qtbot, window):
    doc = Document(np.zeros((80, 80, 3), np.uint8))
    window.files.replace(EditingSession(doc))
    window.set_tool(Tool.COLOUR)
    window.canvas.set_colour((250, 0, 0))
    window.canvas.set_brush_size(30)
    window.mask_panel.hardness.setValue(20)
    window.canvas._tools.begin(QPointF(40, 40), primary=True)
    window.canvas._finish_stroke()
    sketch = doc.sketch
    assert sketch is not None
    centre, rim = int(sketch.colours[40, 40, 0]), int(sketch.colours[40, 54, 0])
    assert centre == 250 and 0 < rim < 125, "full colour inside, faded towards the edge"
    assert doc.mask[40, 54] and doc.mask[40, 40], "the mask is the whole stroke"
    window.session_model.session.undo()
    assert doc.sketch.empty and not doc.mask.any()


def test_use_these_settings_brings_back_the_generation_area(qtbot, window):
    from glide_studio.core.imaging.region import Region

    open_photo(window)
    session = window.session_model.session
    paint_box(window, Box(10, 10, 40, 40))
    session.set_region(Region(left=0, top=0, size=96))
    request = session.request_for(window.prompt_panel.settings())
    session.start_run(request, model="test")
    box = Box(10, 10, 40, 40)
    cand = Candidate(
        index=0, seed=9, box=box, patch=np.full((30, 30, 3), 5, np.uint8), original=request.image
    )
    session.handle(Started(stages=("base",), steps=(1,), seeds=(9,), box=Box(0, 0, 96, 96)))
    session.handle(Finished(candidates=(cand,), seconds=0.0))
    assert window.generation.apply()
    session.set_region(None)
    assert window.history.use_settings_of(window.history.list.count() - 1)
    assert session.region == Region(left=0, top=0, size=96)


def test_use_these_settings_on_an_edit_read_from_a_png(qtbot, window, tmp_path):
    open_photo(window)
    paint_box(window, Box(10, 10, 30, 30))
    apply_pixels(window, Box(10, 10, 30, 30), np.zeros((20, 20, 3), np.uint8), prompt="a black hole", seed=31)
    out = window.session_model.document.save(tmp_path / "out.png")
    assert window.files.open_path(out)
    assert "from the file" in window.history.list.item(0).text()
    window.prompt_panel.prompt.setPlainText("")
    assert window.history.use_settings_of(0)
    doc = window.session_model.document
    assert window.prompt_panel.prompt.toPlainText() == "a black hole"
    assert window.prompt_panel.seed.value() == 31 and doc.mask[10:30, 10:30].all() and doc.mask.sum() == 400
    window.session_model.session.undo()
    assert not doc.mask.any(), "the mask came as one undo step"
