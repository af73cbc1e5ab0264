"""Scene items of the canvas: the picture, the mask overlay, previews, the region square, cursors.

The picture and the mask overlay paint only the part of themselves that Qt
asks for (``exposedRect``), straight from buffers that share memory with
numpy arrays, so a brush dab or an applied edit repaints a few hundred
pixels, not the photo.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QLineF, QPointF, QRect, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QPainter,
    QPainterPath,
    QPen,
    QTransform,
)
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from ..core.imaging.region import Box
from .convert import BgraBuffer, box_to_rect, checkerboard

__all__ = [
    "BrushCursor",
    "ImageLayer",
    "MaskOverlay",
    "OutlineItem",
    "PreviewItem",
    "RegionItem",
    "SketchOverlay",
    "area_label",
    "short_area_label",
]

MASK_COLOR = (255, 56, 112, 118)
"""Translucent pink-red, readable over skies, skin and foliage alike."""
WARNING_COLOR = QColor(255, 190, 70)
"""The region tag's text when the model's output is enlarged more than ``WARN_ENLARGEMENT``."""
WARN_ENLARGEMENT = 2.0
SELECTED_COLOR = QColor(90, 170, 255)
"""The region square while it is taken for moving."""


def _exposed(option: QStyleOptionGraphicsItem, bounds: QRect) -> QRect:
    return option.exposedRect.toAlignedRect().intersected(bounds)  # type: ignore[attr-defined]


def _smooth(painter: QPainter) -> bool:
    """Smooth when zoomed out or near 100 %; crisp pixels when zoomed far in (for checking seams)."""
    return painter.worldTransform().m11() < 3.0


class _BufferItem(QGraphicsItem):
    def __init__(self, width: int, height: int, *, premultiplied: bool) -> None:
        super().__init__()
        self.buffer = BgraBuffer(width, height, premultiplied=premultiplied)
        self._rect = QRect(0, 0, width, height)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)

    def boundingRect(self) -> QRectF:
        return QRectF(self._rect)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        source = _exposed(option, self._rect)
        if source.isEmpty():
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, _smooth(painter))
        painter.drawImage(QRectF(source), self.buffer.image, QRectF(source))

    def refresh(self, box: Box) -> None:
        self.update(QRectF(box_to_rect(box)))


class ImageLayer(_BufferItem):
    """The picture being edited; a transparent one is drawn over a checkerboard."""

    def __init__(self, rgb: np.ndarray, alpha: np.ndarray | None = None) -> None:
        super().__init__(rgb.shape[1], rgb.shape[0], premultiplied=alpha is not None)
        self._alpha = alpha
        self._checker = checkerboard() if alpha is not None else None
        self.write(Box(0, 0, rgb.shape[1], rgb.shape[0]), rgb)

    @property
    def transparent(self) -> bool:
        return self._alpha is not None

    def write(self, box: Box, rgb: np.ndarray) -> None:
        """Copy the image's pixels of ``box`` in and repaint just that rect."""
        if self._alpha is not None:
            self.buffer.write_rgba(box, rgb[box.slices], self._alpha[box.slices])
        else:
            self.buffer.write_rgb(box, rgb[box.slices])
        self.refresh(box)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if self._checker is not None:
            source = _exposed(option, self._rect)
            brush = QBrush(self._checker)
            # Squares of constant screen size at any zoom.
            scale = painter.worldTransform().m11() or 1.0
            brush.setTransform(QTransform.fromScale(1 / scale, 1 / scale))
            painter.fillRect(QRectF(source), brush)
        super().paint(painter, option, widget)


class MaskOverlay(_BufferItem):
    """The painted mask, tinted over the picture."""

    def __init__(self, mask: np.ndarray) -> None:
        super().__init__(mask.shape[1], mask.shape[0], premultiplied=True)
        self.write(Box(0, 0, mask.shape[1], mask.shape[0]), mask)

    def write(self, box: Box, mask: np.ndarray) -> None:
        self.buffer.write_solid(box, mask[box.slices], MASK_COLOR)
        self.refresh(box)


class SketchOverlay(_BufferItem):
    """The colour sketch, opaque where painted (above the mask tint, so colours read true)."""

    def __init__(self, width: int, height: int) -> None:
        super().__init__(width, height, premultiplied=True)

    def write(self, box: Box, layer: object) -> None:
        colours, painted = layer.region(box)  # type: ignore[attr-defined]
        alpha = np.where(painted, 255, 0).astype(np.uint8)
        self.buffer.write_rgba(box, colours, alpha)
        self.refresh(box)


class PreviewItem(QGraphicsItem):
    """A picture drawn scaled onto a box, clipped to the image: live previews and candidates."""

    def __init__(self, image_rect: QRectF) -> None:
        super().__init__()
        self._clip = image_rect
        self._image: QImage | None = None
        self._target = QRectF()

    def boundingRect(self) -> QRectF:
        return self._target.intersected(self._clip)

    def show_image(self, image: QImage, box: Box) -> None:
        target = QRectF(box_to_rect(box))
        if target != self._target:
            self.prepareGeometryChange()
            self._target = target
        self._image = image
        self.setVisible(True)
        self.update()

    def clear(self) -> None:
        self._image = None
        self.setVisible(False)

    @property
    def showing(self) -> bool:
        return self._image is not None and self.isVisible()

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if self._image is None:
            return
        painter.save()  # the view does not save the painter (DontSavePainterState): this clip
        painter.setClipRect(self._clip)  # would otherwise cut every item drawn after it
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.drawImage(self._target, self._image)
        painter.restore()


def _two_tone(painter: QPainter, draw: object, *, dashed: bool = False) -> None:
    """Draw a shape twice (dark under light) so it reads on any picture."""
    for color, width, style in (
        (QColor(0, 0, 0, 170), 3.0, Qt.PenStyle.SolidLine),
        (QColor(255, 255, 255, 230), 1.0, Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine),
    ):
        pen = QPen(color, width, style)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        draw(painter)  # type: ignore[operator]


class _Label(QGraphicsItem):
    """A small dark tag drawn at screen size whatever the zoom (child of the region square)."""

    def __init__(self, parent: QGraphicsItem) -> None:
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self._text = ""
        self._short = ""
        self._inside = False
        self._warning = False
        self._font = QFont()
        self._font.setPointSizeF(8.5)
        self.shown_text = ""
        """What the last paint drew: the whole text, its short form, or that cut with "…"."""

    def set_text(self, text: str, *, short: str = "", inside: bool = False, warning: bool = False) -> None:
        """``inside``: hang below the anchor (the square touches the picture's top, where a
        tag above it would fall off the canvas); ``warning``: in the warning colour; ``short``:
        what to show where the whole ``text`` does not fit (the tooltip always has it all)."""
        changed = (text, short, inside) != (self._text, self._short, self._inside)
        self.prepareGeometryChange()
        self._text, self._short = text, short or text
        self._inside = inside
        self._warning = warning
        self.setToolTip(text)
        scene = self.scene()
        if changed and scene is not None:  # a tag that ignores the zoom is repainted whole
            for view in scene.views():
                view.viewport().update()

    def fitted(self, room: float) -> str:
        """The whole text if ``room`` (pixels) holds it, else the short form, else that cut."""
        metrics = QFontMetricsF(self._font)
        for text in (self._text, self._short):
            if metrics.horizontalAdvance(text) + 12 <= room:
                return text
        return metrics.elidedText(self._short, Qt.TextElideMode.ElideRight, max(room - 12, 0.0))

    @property
    def text(self) -> str:
        return self._text

    @property
    def warning(self) -> bool:
        return self._warning

    def boundingRect(self) -> QRectF:
        metrics = QFontMetricsF(self._font)
        height = metrics.height() + 4
        top = 4 if self._inside else -height - 4
        return QRectF(4 if self._inside else 0, top, metrics.horizontalAdvance(self._text) + 12, height)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        rect = self.boundingRect()
        if widget is not None:  # the room left to the view's right edge, in screen pixels
            room = widget.width() - painter.worldTransform().dx() - rect.left() - 4
            self.shown_text = self.fitted(room)
            rect.setWidth(QFontMetricsF(self._font).horizontalAdvance(self.shown_text) + 12)
        else:
            self.shown_text = self._text
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 160))
        painter.drawRoundedRect(rect, 3, 3)
        painter.setFont(self._font)
        painter.setPen(WARNING_COLOR if self._warning else QColor(240, 240, 240))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, self.shown_text)


class _Edge(QGraphicsItem):
    """One side of the region square. Four thin items instead of one big one, so that
    moving the square repaints four lines, not everything inside it."""

    def __init__(self, parent: QGraphicsItem) -> None:
        super().__init__(parent)
        self._line = QLineF()
        self.selected = False

    def set_line(self, line: QLineF) -> None:
        self.prepareGeometryChange()
        self._line = line

    def boundingRect(self) -> QRectF:
        return QRectF(self._line.p1(), self._line.p2()).normalized().adjusted(-1, -1, 1, 1)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if self.selected:  # taken for moving: solid, in the accent colour
            pen = QPen(SELECTED_COLOR, 2.0)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.drawLine(self._line)
            return
        _two_tone(painter, lambda p: p.drawLine(self._line), dashed=True)


class _Handle(QGraphicsItem):
    """A corner handle of the region square, a few screen pixels whatever the zoom."""

    SIZE = 7.0

    def __init__(self, parent: QGraphicsItem) -> None:
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)

    def boundingRect(self) -> QRectF:
        half = self.SIZE / 2 + 1
        return QRectF(-half, -half, 2 * half, 2 * half)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        half = self.SIZE / 2
        painter.setPen(QPen(QColor(0, 0, 0, 190), 1.0))
        selected = bool(getattr(self.parentItem(), "selected_square", False))
        painter.setBrush(SELECTED_COLOR if selected else QColor(250, 250, 250))
        painter.drawRect(QRectF(-half, -half, self.SIZE, self.SIZE))


def area_label(side: int, output: int | None, *, detail: str = "") -> tuple[str, bool]:
    """The square's tag, e.g. "model sees 1200×1200 → 256 px (4.7× enlarged)", and whether
    the enlargement deserves the warning colour (above 2×). ``detail``: what to add about
    the detail pass ("on", "offer" or "")."""
    text = f"model sees {side}×{side}"
    factor = side / output if output else 1.0
    if output:
        text += f" → {output} px"
        if factor >= 1.05:
            text += f" ({factor:.1f}× enlarged)"
    if detail == "on":
        text += " · Detail on"
    elif detail == "offer":
        text += " · turn on Detail for a sharp edit"
    return text, factor > WARN_ENLARGEMENT


def short_area_label(side: int, output: int | None, *, detail: str = "") -> str:
    """The tag where the whole ``area_label`` does not fit, e.g. "1200² → 256 px (4.7×) · Detail?"."""
    text = f"sees {side}²"
    factor = side / output if output else 1.0
    if output:
        text += f" → {output} px" + (f" ({factor:.1f}×)" if factor >= 1.05 else "")
    return text + {"on": " · Detail on", "offer": " · Detail?"}.get(detail, "")


class RegionItem(QGraphicsItem):
    """The dashed square the model will see, with its size, so the user knows the context.
    Its corner handles and a selected look serve moving and resizing it (``region_drag``)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemHasNoContents, True)
        self._rect = QRectF()
        self._edges = [_Edge(self) for _ in range(4)]
        self._handles = [_Handle(self) for _ in range(4)]
        self._label = _Label(self)
        self.selected_square = False
        self.setVisible(False)

    def set_box(self, box: Box | None, model_side: int | None = None, *, detail: str = "") -> None:
        if box is None:
            self.setVisible(False)
            return
        rect = QRectF(box_to_rect(box))
        text, warning = area_label(box.width, model_side, detail=detail)
        short = short_area_label(box.width, model_side, detail=detail)
        self._label.set_text(text, short=short, inside=box.top <= 0, warning=warning)
        self.setVisible(True)
        if rect == self._rect:
            return
        self._rect = rect
        corners = [rect.topLeft(), rect.topRight(), rect.bottomRight(), rect.bottomLeft()]
        for k, edge in enumerate(self._edges):
            edge.set_line(QLineF(corners[k], corners[(k + 1) % 4]))
            self._handles[k].setPos(corners[k])
        self._label.setPos(rect.topLeft())

    def set_selected_square(self, selected: bool) -> None:
        """Taken for moving (arrow keys nudge it): drawn solid in the accent colour."""
        self.selected_square = selected
        for item in (*self._edges, *self._handles):
            if isinstance(item, _Edge):
                item.selected = selected
            item.update()

    @property
    def rect(self) -> QRectF:
        return self._rect

    @property
    def label_text(self) -> str:
        return self._label.text

    @property
    def label(self) -> _Label:
        """The tag itself (what it drew last, its tooltip: read by tests)."""
        return self._label

    @property
    def label_warning(self) -> bool:
        return self._label.warning

    def boundingRect(self) -> QRectF:
        return QRectF()

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        pass


class BrushCursor(QGraphicsItem):
    """A circle the size of the brush (in image pixels) following the pointer."""

    def __init__(self) -> None:
        super().__init__()
        self._radius = 10.0
        self._scale = 1.0
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setVisible(False)

    def set_radius(self, radius: float, scale: float) -> None:
        """``scale`` is the view's zoom, so the crosshair and margins stay a few screen pixels."""
        self.prepareGeometryChange()
        self._radius = max(radius, 0.5)
        self._scale = max(scale, 1e-3)

    def boundingRect(self) -> QRectF:
        r = max(self._radius, 6 / self._scale) + 4 / self._scale
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        r = self._radius
        _two_tone(painter, lambda p: p.drawEllipse(QPointF(0, 0), r, r))
        if r * self._scale < 6:  # too small to see: add a crosshair
            arm = 6 / self._scale
            lines = [QLineF(-arm, 0, arm, 0), QLineF(0, -arm, 0, arm)]
            _two_tone(painter, lambda p: p.drawLines(lines))


class OutlineItem(QGraphicsItem):
    """The rectangle or lasso being drawn, before it fills the mask."""

    def __init__(self) -> None:
        super().__init__()
        self._path = QPainterPath()
        self.setVisible(False)

    def set_path(self, path: QPainterPath) -> None:
        self.prepareGeometryChange()
        self._path = path
        self.setVisible(not path.isEmpty())

    def boundingRect(self) -> QRectF:
        return self._path.boundingRect().adjusted(-4, -4, 4, 4)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        painter.fillPath(self._path, QBrush(QColor(MASK_COLOR[0], MASK_COLOR[1], MASK_COLOR[2], 60)))
        _two_tone(painter, lambda p: p.drawPath(self._path), dashed=True)
