"""The generation area on the canvas: moved, resized, nudged and reset by the user, its label
telling the enlargement, and the panel's Context, Detail and detail-time estimate."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from PySide6.QtCore import Qt
from qt_helpers import drag, open_photo, paint_box, to_view

from glide_studio.core.generation.events import Started
from glide_studio.core.generation.progress import format_clock
from glide_studio.core.imaging.region import Box, Region
from glide_studio.core.imaging.tiles import detail_tile_count
from glide_studio.qt.region_controller import StepTimes, detail_estimate, square_mask
from glide_studio.qt.region_drag import Limits, fit_square
from glide_studio.qt.settings import GenerationDefaults

LEFT = Qt.MouseButton.LeftButton
MASK = Box(150, 100, 200, 150)
"""A 50 px mask: the automatic square (context 1) is 100 px, Box(125, 75, 225, 175)."""


def _ready(qtbot, window, width=400, height=300, mask=MASK):
    doc = open_photo(window, width, height)
    qtbot.waitUntil(lambda: window.service.info is not None, timeout=30_000)
    paint_box(window, mask)
    qtbot.waitUntil(lambda: window.canvas.area_box is not None)
    return doc


def _session(window):
    session = window.session_model.session
    assert session is not None
    return session


def _holds(box: Box, inner: Box) -> bool:
    return (
        box.left <= inner.left
        and box.top <= inner.top
        and box.right >= inner.right
        and box.bottom >= inner.bottom
    )


def test_dragging_the_edge_moves_the_sessions_square(qtbot, window):
    _ready(qtbot, window)
    assert window.canvas.area_box == Box(125, 75, 225, 175)
    assert _session(window).region is None
    drag(qtbot, window, [(175, 75), (165, 80), (155, 95)])  # from the top edge, 20 left and 20 down
    region = _session(window).region
    assert region is not None and region.size == 100
    assert abs(region.left - 105) <= 1 and abs(region.top - 95) <= 1
    qtbot.waitUntil(lambda: window.canvas.area_box == region.box)
    assert np.count_nonzero(_session(window).document.mask) == 50 * 50, "the drag painted nothing"


def test_a_drag_cannot_leave_the_mask_or_the_picture(qtbot, window):
    _ready(qtbot, window)
    drag(qtbot, window, [(175, 75), (175 + 600, 75 + 600)])
    region = _session(window).region
    assert region is not None and region.size == 100
    assert _holds(region.box, MASK), "the square still holds the whole mask"
    assert region.box.right <= 400 and region.box.bottom <= 300


def test_painting_inside_the_square_still_paints(qtbot, window):
    doc = _ready(qtbot, window)
    window.canvas.set_brush_size(6)
    before = int(np.count_nonzero(doc.mask))
    drag(qtbot, window, [(140, 160), (145, 165)])  # inside the square, away from its edges
    assert np.count_nonzero(doc.mask) > before
    assert _session(window).region is None


def test_a_corner_resizes_it_square_and_never_smaller_than_the_mask(qtbot, window):
    _ready(qtbot, window)
    drag(qtbot, window, [(225, 175), (260, 190), (300, 200)])  # bottom-right corner outwards
    region = _session(window).region
    assert region is not None
    assert (region.left, region.top) == (125, 75), "the opposite corner stays where it was"
    assert abs(region.size - 175) <= 1
    drag(qtbot, window, [(region.box.right, region.box.bottom), (130, 80)])  # far inwards
    region = _session(window).region
    assert region is not None and region.size == 64, "the model's input (the tiny base: 64 px)"
    assert region.size >= max(MASK.width, MASK.height) and _holds(region.box, MASK)
    assert "cannot be smaller than 64 px" in window.status.currentMessage()


def test_arrow_keys_nudge_the_selected_square(qtbot, window):
    _ready(qtbot, window)
    viewport = window.canvas.viewport()
    qtbot.mouseClick(viewport, LEFT, Qt.KeyboardModifier.NoModifier, to_view(window, 125, 125))  # left edge
    assert window.canvas.region_selected
    qtbot.keyClick(window.canvas, Qt.Key.Key_Right)
    assert _session(window).region == Region(left=126, top=75, size=100)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert _session(window).region == Region(left=126, top=85, size=100)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    assert _session(window).region == Region(left=116, top=85, size=100)
    # A click away from the square gives the canvas back to the tools: arrows no longer move it.
    qtbot.mouseClick(viewport, LEFT, Qt.KeyboardModifier.NoModifier, to_view(window, 20, 20))
    assert not window.canvas.region_selected
    qtbot.keyClick(window.canvas, Qt.Key.Key_Right)
    assert _session(window).region == Region(left=116, top=85, size=100)


def test_double_click_sets_it_back_to_automatic(qtbot, window):
    _ready(qtbot, window)
    _session(window).set_region(Region(left=140, top=90, size=120))
    qtbot.waitUntil(lambda: window.canvas.area_box == Box(140, 90, 260, 210))
    qtbot.mouseDClick(
        window.canvas.viewport(), LEFT, Qt.KeyboardModifier.NoModifier, to_view(window, 200, 90)
    )
    assert _session(window).region is None
    qtbot.waitUntil(lambda: window.canvas.area_box == Box(125, 75, 225, 175))
    assert "automatic" in window.status.currentMessage()


def test_a_chosen_square_grown_by_painting_says_so(qtbot, window):
    _ready(qtbot, window)
    _session(window).set_region(Region(left=125, top=75, size=100))
    paint_box(window, Box(120, 60, 260, 170))  # the mask now outgrows the chosen square
    qtbot.waitUntil(lambda: window.canvas.area_box is not None and window.canvas.area_box.width == 140)
    assert "grown from 100 to 140 px" in window.status.currentMessage()


def test_label_tells_the_enlargement_in_a_warning_colour_above_2x(qtbot, window):
    _ready(qtbot, window, 1200, 900, Box(300, 150, 900, 750))  # a 600 px mask: the square is 1200
    panel = window.prompt_panel
    panel.upsample.setChecked(True)
    panel.area.set_detail("auto")  # the tiny models do not run detail by themselves
    qtbot.waitUntil(lambda: "1200×1200" in window.canvas.region_label[0])
    text, warning = window.canvas.region_label
    assert text == "model sees 1200×1200 → 256 px (4.7× enlarged) · turn on Detail for a sharp edit"
    assert warning
    panel.area.set_detail("on")
    qtbot.waitUntil(lambda: window.canvas.region_label[0].endswith("· Detail on"))
    assert window.canvas.region_label[0].startswith("model sees 1200×1200 → 256 px (4.7× enlarged)")


def test_label_of_a_square_the_model_covers_has_no_warning(qtbot, window):
    _ready(qtbot, window)
    window.prompt_panel.upsample.setChecked(True)
    qtbot.waitUntil(lambda: window.canvas.region_label[0] == "model sees 100×100 → 256 px")
    assert not window.canvas.region_label[1]


def test_context_changes_the_automatic_square(qtbot, window):
    _ready(qtbot, window)
    window.prompt_panel.area.context.setValue(2.0)
    qtbot.waitUntil(lambda: window.canvas.area_box == Box(100, 50, 250, 200))  # 50 + 2 × 50
    window.prompt_panel.area.context.setValue(0.5)
    qtbot.waitUntil(lambda: window.canvas.area_box is not None and window.canvas.area_box.width == 82)
    assert window.prompt_panel.settings().context == 0.5


def test_detail_and_context_fill_the_settings_and_the_request(qtbot, window):
    _ready(qtbot, window)
    panel = window.prompt_panel
    panel.area.set_detail("on")
    panel.area.context.setValue(1.5)
    panel.area.steps.setText("ddim10")
    _session(window).set_region(Region(left=120, top=70, size=140))
    settings = panel.settings()
    assert (settings.detail, settings.context, settings.detail_steps) == ("on", 1.5, "ddim10")
    request = _session(window).request_for(settings)
    assert (request.detail, request.context, request.detail_steps) == ("on", 1.5, "ddim10")
    assert request.region == Region(left=120, top=70, size=140)
    panel.area.steps.setText("nonsense")
    panel.area.steps.textEdited.emit("nonsense")
    assert not panel.generate_button.isEnabled(), "a bad detail step setting keeps Generate off"


def test_the_new_settings_are_remembered(settings):
    values = GenerationDefaults(context=2.5, detail="on", detail_steps="ddim10")
    settings.set_generation(values)
    back = settings.generation()
    assert (back.context, back.detail, back.detail_steps) == (2.5, "on", "ddim10")


def test_the_detail_estimate_appears_with_its_tiles(qtbot, window):
    doc = _ready(qtbot, window, 1200, 900, Box(300, 150, 900, 750))
    panel = window.prompt_panel
    panel.upsample.setChecked(True)
    panel.area.set_detail("on")
    box = window.canvas.area_box
    tiles = detail_tile_count(square_mask(doc.mask, box), 256)
    assert tiles > 1
    window.regions.step_times.warm_up({"base": 0.1, "upsample": 0.5})
    window.regions.update_estimate()
    seconds = window.regions.step_times.seconds()
    expected = f"Detail: about {format_clock(tiles * 27 * seconds)} ({tiles} tiles)"  # fast27: 27 steps
    qtbot.waitUntil(lambda: panel.area.estimate.text() == expected)
    assert panel.area.estimate.isVisible()
    panel.area.set_detail("off")
    qtbot.waitUntil(lambda: not panel.area.estimate.isVisible())


def test_generate_with_detail_on_runs_the_detail_tiles(qtbot, window):
    _ready(qtbot, window, 300, 300, Box(80, 80, 220, 220))  # the square: 280 px, 4.4× the base's 64
    panel = window.prompt_panel
    panel.set_steps("2", "2")
    panel.candidates.setValue(1)
    panel.upsample.setChecked(False)
    panel.prompt.setPlainText("a red boat")
    panel.area.set_detail("on")
    panel.area.steps.setText("2")
    panel.area.steps.textEdited.emit("2")
    started: list[Started] = []
    window.service.event.connect(lambda e: started.append(e) if isinstance(e, Started) else None)
    assert window.generation.generate()
    qtbot.waitUntil(lambda: not window.generation.running and bool(started), timeout=120_000)
    assert "detail" in started[0].stages
    run = _session(window).run
    assert run is not None and run.request.detail == "on" and len(run.candidates) == 1


@settings_(max_examples=60, deadline=None)
@given(
    left=st.integers(-3000, 3000),
    top=st.integers(-3000, 3000),
    side=st.integers(1, 4000),
    mask=st.tuples(st.integers(0, 380), st.integers(0, 280), st.integers(1, 200), st.integers(1, 200)),
)
def test_a_fitted_square_holds_the_mask_inside_the_picture(left, top, side, mask):
    width, height = 400, 300
    x, y, w, h = mask
    bounds = Box(x, y, min(x + w, width), min(y + h, height))
    limits = Limits(bounds, width, height, 64)
    region = fit_square(left, top, side, limits)
    assert limits.smallest <= region.size <= max(width, height)
    assert _holds(region.box, bounds)
    if region.size <= width:
        assert region.left >= 0 and region.box.right <= width
    if region.size <= height:
        assert region.top >= 0 and region.box.bottom <= height


def test_step_times_leave_out_each_stage_and_tiles_first_step():
    times = StepTimes()
    assert times.seconds() is None
    times.warm_up({"base": 0.1, "upsample": 0.9})
    assert times.seconds() == 0.9, "before any run: the warm-up's step"
    for step, now in ((1, 10.0), (2, 10.5), (3, 11.0)):
        times.preview("upsample", step, now)
    assert times.seconds() == 0.5, "a run's own steps replace the warm-up (step 1 left out)"
    for step, now in ((1, 20.0), (2, 20.2), (1, 30.0), (2, 30.2)):  # two detail tiles
        times.preview("detail", step, now)
    assert abs(times.seconds() - 0.2) < 1e-9, "the detail stage's steps, each tile's first left out"


def test_detail_estimate_lines():
    assert (
        detail_estimate(tiles=36, steps=27, seconds=130 / (36 * 27), runs=True)
        == "Detail: about 2:10 (36 tiles)"
    )
    assert (
        detail_estimate(tiles=1, steps=10, seconds=6.0, runs=False)
        == "Detail On would take about 1:00 (1 tile)"
    )
    assert "time known after the first run" in detail_estimate(tiles=4, steps=27, seconds=None, runs=True)
