"""Issue 26.6: long texts fit a small window (cut short with "…" or wrapped), the whole text in a tooltip."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QScrollArea, QStyleOptionGraphicsItem
from qt_helpers import open_photo, paint_box

from glide_studio.core.generation.presets import RecommendedSampling
from glide_studio.core.generation.request import StageSettings
from glide_studio.core.imaging.region import Box
from glide_studio.qt.overlays import PreviewItem, area_label, short_area_label

DEMO = RecommendedSampling(
    base=StageSettings(sampler="ancestral", steps="50"),
    upsample=StageSettings(sampler="ancestral", steps="fast27"),
    guidance_scale=3.0,
)


def _scroll_area(widget) -> QScrollArea:
    while not isinstance(widget, QScrollArea):
        widget = widget.parentWidget()
    return widget


@pytest.mark.parametrize("size", [(1024, 600), (1280, 720)])
@pytest.mark.parametrize("clip", [False, True])
def test_the_settings_panel_is_never_wider_than_its_dock(qtbot, window, size, clip):
    panel = window.prompt_panel
    panel.apply_recommended(DEMO, label="Demo model")
    window.resize(*size)
    if clip:
        panel.guide.setCurrentIndex(panel.guide.findData("clip"))
        panel.select_preset("fast")  # not ancestral: the long CLIP hint shows under Generate
    qtbot.wait(20)
    area = _scroll_area(panel)
    qtbot.waitUntil(lambda: panel.width() <= area.viewport().width())
    assert panel.minimumSizeHint().width() <= area.viewport().width()
    if clip:
        label = panel.status_label
        assert "CLIP guidance" in label.text()
        assert label.height() >= label.heightForWidth(label.width()), "the hint is not cut off"
    else:
        assert panel.preset.currentText() == "Demo model · 50 + fast27 steps"
        assert panel.preset.toolTip().startswith("Demo model · 50 + fast27 steps\n")
        whole = panel.preset.fontMetrics().horizontalAdvance(panel.preset.currentText())
        assert panel.preset.minimumSizeHint().width() < whole, "the box may be narrower than its item"


def test_the_whole_preset_name_follows_the_choice_in_the_tooltip(window):
    panel = window.prompt_panel
    panel.select_preset("fast")
    assert panel.preset.toolTip().startswith(panel.preset.currentText() + "\n")
    assert "Sampling steps" in panel.preset.toolTip()


def test_the_square_tag_shortens_where_it_does_not_fit(qtbot, window):
    window.resize(1024, 600)
    doc = open_photo(window, 960, 640)
    paint_box(window, Box(880, 330, 940, 380))  # a square near the right edge of the view
    window.canvas.refresh_region()
    label = window.canvas.region_tag
    whole = window.canvas.region_label[0]
    assert label.toolTip() == whole
    window.canvas.viewport().grab()  # paint once, as on screen
    assert label.shown_text != whole and label.shown_text.startswith("sees ")
    assert label.fitted(10_000) == whole
    short = label.fitted(label.boundingRect().width() - 1)
    assert short != whole and not short.endswith("…")
    assert label.fitted(60).endswith("…")
    assert doc.width == 960


def test_the_short_tag_says_the_same_in_fewer_words():
    assert area_label(1200, 256, detail="offer")[0] == (
        "model sees 1200×1200 → 256 px (4.7× enlarged) · turn on Detail for a sharp edit"
    )
    assert short_area_label(1200, 256, detail="offer") == "sees 1200² → 256 px (4.7×) · Detail?"
    assert short_area_label(256, 256, detail="on") == "sees 256² → 256 px · Detail on"
    assert short_area_label(300, None) == "sees 300²"


def test_a_shown_preview_leaves_no_clip_behind_for_the_items_drawn_after_it(qapp):
    # The canvas does not save the painter between items: a clip left by the preview cut the
    # square's tag and corner handles at the picture's edge.
    item = PreviewItem(QRectF(0, 0, 40, 40))
    picture = QImage(8, 8, QImage.Format.Format_RGB32)
    picture.fill(0)
    item.show_image(picture, Box(0, 0, 40, 40))
    target = QImage(80, 80, QImage.Format.Format_RGB32)
    painter = QPainter(target)
    item.paint(painter, QStyleOptionGraphicsItem(), None)
    clipped = painter.hasClipping()
    painter.end()
    assert not clipped
