"""Mask tools: brush, eraser, rectangle and lasso, rasterised only where they touch.

A brush stroke is a chain of capsules (segments with round ends); each mouse
move rasterises one capsule into its own small bounding box with numpy and
writes it into the mask, so the cost of a move does not depend on the photo's
size. A stroke keeps a snapshot of the mask from its start and, at the end,
cuts out one compact undo patch covering everything it touched.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import Enum

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPolygonF

from ..core.editing.patches import MaskPatch
from ..core.editing.sketch import SketchPatch
from ..core.imaging.region import Box
from .session_model import SessionModel

__all__ = ["ColourStroke", "MaskStroke", "Tool", "ToolSession", "capsule", "polygon", "rectangle", "union"]


class Tool(Enum):
    BRUSH = "brush"
    ERASER = "eraser"
    RECTANGLE = "rectangle"
    LASSO = "lasso"
    COLOUR = "colour"
    """Paint colours for a sketch-guided edit (they are masked too)."""
    WAND = "wand"
    """Select by colour: a click masks the pixels of similar colour."""

    @property
    def label(self) -> str:
        return {Tool.COLOUR: "Colour brush", Tool.WAND: "Magic wand"}.get(self, self.value.capitalize())

    @property
    def brush_like(self) -> bool:
        return self in (Tool.BRUSH, Tool.ERASER, Tool.COLOUR)


def union(a: Box | None, b: Box | None) -> Box | None:
    if a is None:
        return b
    if b is None:
        return a
    return Box(min(a.left, b.left), min(a.top, b.top), max(a.right, b.right), max(a.bottom, b.bottom))


def _clip(left: float, top: float, right: float, bottom: float, width: int, height: int) -> Box | None:
    box = Box(
        max(0, math.floor(left)),
        max(0, math.floor(top)),
        min(width, math.ceil(right)),
        min(height, math.ceil(bottom)),
    )
    return box if box.width > 0 and box.height > 0 else None


def capsule(
    p0: QPointF, p1: QPointF, radius: float, width: int, height: int
) -> tuple[Box, np.ndarray] | None:
    """Pixels whose centres lie within ``radius`` of the segment p0–p1 (image coordinates)."""
    found = _capsule_distance2(p0, p1, radius, width, height)
    if found is None:
        return None
    box, d2, r = found
    return box, d2 <= r * r


def soft_capsule(
    p0: QPointF, p1: QPointF, radius: float, hardness: float, width: int, height: int
) -> tuple[Box, np.ndarray, np.ndarray] | None:
    """Like ``capsule``, with a soft brush's strength per pixel: 1 within ``hardness · radius``,
    falling to 0 at the radius."""
    found = _capsule_distance2(p0, p1, radius, width, height)
    if found is None:
        return None
    box, d2, r = found
    solid = r * min(max(hardness, 0.0), 1.0)
    weight = np.clip((r - np.sqrt(d2)) / max(r - solid, 1e-3), 0.0, 1.0)
    return box, d2 <= r * r, weight


def _capsule_distance2(
    p0: QPointF, p1: QPointF, radius: float, width: int, height: int
) -> tuple[Box, np.ndarray, float] | None:
    """The box around the segment p0–p1 and each pixel centre's squared distance to it."""
    r = max(radius, 0.75)  # a 1 px brush still hits the pixel under the cursor
    x0, y0, x1, y1 = p0.x(), p0.y(), p1.x(), p1.y()
    box = _clip(min(x0, x1) - r, min(y0, y1) - r, max(x0, x1) + r + 1, max(y0, y1) + r + 1, width, height)
    if box is None:
        return None
    ys = np.arange(box.top, box.bottom, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(box.left, box.right, dtype=np.float32)[None, :] + 0.5
    dx, dy = x1 - x0, y1 - y0
    length2 = dx * dx + dy * dy
    if length2 > 0:
        t = np.clip(((xs - x0) * dx + (ys - y0) * dy) / length2, 0.0, 1.0)
        px, py = x0 + t * dx, y0 + t * dy
    else:
        px, py = x0, y0
    return box, (xs - px) ** 2 + (ys - py) ** 2, r


def rectangle(p0: QPointF, p1: QPointF, width: int, height: int) -> tuple[Box, np.ndarray] | None:
    """Every pixel whose centre is inside the rectangle spanned by the two corners."""
    left, right = sorted((p0.x(), p1.x()))
    top, bottom = sorted((p0.y(), p1.y()))
    box = _clip(round(left), round(top), round(right), round(bottom), width, height)
    if box is None:
        return None
    return box, np.ones((box.height, box.width), dtype=bool)


def polygon(points: list[QPointF], width: int, height: int) -> tuple[Box, np.ndarray] | None:
    """Pixels inside a closed lasso (winding fill), rasterised into the polygon's box only."""
    if len(points) < 3:
        return None
    xs = [p.x() for p in points]
    ys = [p.y() for p in points]
    box = _clip(min(xs), min(ys), max(xs) + 1, max(ys) + 1, width, height)
    if box is None:
        return None
    image = QImage(box.width, box.height, QImage.Format.Format_Grayscale8)
    image.fill(0)
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.WindingFill)
    path.addPolygon(QPolygonF([QPointF(p.x() - box.left, p.y() - box.top) for p in points]))
    path.closeSubpath()
    painter = QPainter(image)
    painter.fillPath(path, QColor(255, 255, 255))
    painter.end()
    raw = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.bytesPerLine() * box.height)
    where = raw.reshape(box.height, image.bytesPerLine())[:, : box.width] >= 128
    if not where.any():
        return None
    return box, where.copy()


class MaskStroke:
    """One stroke or shape in progress: paints through the model, ends with one undo patch."""

    def __init__(self, model: SessionModel, value: bool) -> None:
        document = model.document
        assert document is not None
        self._model = model
        self._document = document
        self.value = value
        self._snapshot = document.mask_snapshot()
        self.dirty: Box | None = None

    def paint(self, region: tuple[Box, np.ndarray] | None) -> Box | None:
        """Apply one rasterised piece; returns the box it touched (for repainting)."""
        if region is None:
            return None
        box, where = region
        self._model.paint(box, where, self.value)
        self.dirty = union(self.dirty, box)
        return box

    def finish(self) -> MaskPatch | None:
        """The undo patch for the whole stroke, or None if it changed nothing."""
        if self.dirty is None:
            return None
        patch = self._document.capture_mask_change(self._snapshot, self.dirty)
        self._snapshot = np.zeros((0, 0), dtype=bool)
        return patch


class ColourStroke:
    """One colour stroke: paints the sketch (and the mask under it), ends with one undo step."""

    value = True

    def __init__(self, model: SessionModel, colour: tuple[int, int, int]) -> None:
        document = model.document
        assert document is not None
        self._model, self._document, self.colour = model, document, colour
        layer = document.sketch_layer()
        self._before = (layer.colours.copy(), layer.painted.copy())
        self._mask_before = document.mask_snapshot()
        self.dirty: Box | None = None

    def paint(self, region: tuple[Box, np.ndarray] | None, weight: np.ndarray | None = None) -> Box | None:
        if region is None:
            return None
        box, where = region
        self._model.paint_sketch(box, where, self.colour, weight)
        self.dirty = union(self.dirty, box)
        return box

    def finish(self) -> tuple[SketchPatch, MaskPatch | None] | None:
        if self.dirty is None:
            return None
        box = self.dirty
        before = (self._before[0][box.slices].copy(), self._before[1][box.slices].copy())
        after = self._document.sketch_layer().region(box)
        mask = self._document.capture_mask_change(self._mask_before, box)
        return SketchPatch(box, before, after), mask


class ToolSession:
    """The current tool applied to scene points: one press-move-release becomes one undo patch.

    ``show_outline`` receives the rectangle or lasso path while it is drawn
    (an empty path when done). The brush paints as the pointer moves; shapes
    fill the mask on release.
    """

    def __init__(self, model: SessionModel, show_outline: Callable[[QPainterPath], None]) -> None:
        self._model = model
        self._show_outline = show_outline
        self.tool = Tool.BRUSH
        self.brush_size = 40
        self.colour: tuple[int, int, int] = (214, 48, 49)
        """The colour brush's colour."""
        self.pressure = 1.0
        """A tablet pen's pressure (0..1) during a stroke: it scales the brush; 1 with a mouse."""
        self.hardness = 1.0
        """The colour brush's hardness (0..1): below 1 its edge fades into what is under it."""
        self._stroke: MaskStroke | ColourStroke | None = None
        self._points: list[QPointF] = []
        self._last_dab: QPointF | None = None
        self.grown: Box | None = None
        """While adding: the mask's bounds before the stroke plus everything painted since."""

    @property
    def active(self) -> bool:
        return self._stroke is not None

    @property
    def adding(self) -> bool:
        return self._stroke is not None and self._stroke.value

    def begin(self, pos: QPointF, *, primary: bool, line_from_last: bool = False) -> None:
        """Start at ``pos``; ``primary`` is the left button (the tool's own action)."""
        doc = self._model.document
        if doc is None:
            return
        add = primary != (self.tool is Tool.ERASER)
        if self.tool is Tool.COLOUR:
            add = True
            self._stroke = ColourStroke(self._model, self.colour)
        else:
            self._stroke = MaskStroke(self._model, add)
        self.grown = doc.mask_box() if add else None
        self._points = [pos]
        if self.tool.brush_like:
            start = self._last_dab if line_from_last and self._last_dab is not None else pos
            self._dab(start, pos)

    def move(self, pos: QPointF, zoom: float) -> None:
        if self._stroke is None:
            return
        if self.tool.brush_like:
            self._dab(self._points[-1], pos)
            self._points[-1] = pos
            return
        path = QPainterPath()
        if self.tool is Tool.RECTANGLE:
            self._points = [self._points[0], pos]
            path.addRect(QRectF(self._points[0], pos).normalized())
        else:
            if (pos - self._points[-1]).manhattanLength() * zoom >= 2:
                self._points.append(pos)
            path.addPolygon(QPolygonF(self._points))
            path.closeSubpath()
        self._show_outline(path)

    def end(self) -> tuple[MaskPatch | tuple[SketchPatch, MaskPatch | None], str] | None:
        """Finish: the undo data (a mask patch, or a colour stroke's sketch and mask patches) and
        its label, or None if nothing changed."""
        stroke, self._stroke = self._stroke, None
        doc = self._model.document
        if stroke is None or doc is None:
            return None
        if self.tool is Tool.RECTANGLE and len(self._points) == 2:
            stroke.paint(rectangle(self._points[0], self._points[1], doc.width, doc.height))
        elif self.tool is Tool.LASSO:
            stroke.paint(polygon(self._points, doc.width, doc.height))
        self._show_outline(QPainterPath())
        self._points = []
        self.grown = None
        patch = stroke.finish()
        if patch is None:
            return None
        if isinstance(stroke, ColourStroke):
            return patch, "Colour stroke"
        if self.tool in (Tool.BRUSH, Tool.ERASER):
            return patch, "Brush stroke" if stroke.value else "Erase stroke"
        return patch, self.tool.label if stroke.value else f"{self.tool.label} (subtract)"

    def _dab(self, p0: QPointF, p1: QPointF) -> None:
        doc = self._model.document
        assert doc is not None and self._stroke is not None
        radius = self.brush_size / 2 * max(0.05, min(self.pressure, 1.0))
        if isinstance(self._stroke, ColourStroke) and self.hardness < 1.0:
            soft = soft_capsule(p0, p1, radius, self.hardness, doc.width, doc.height)
            box = self._stroke.paint(soft[:2], soft[2]) if soft is not None else None
        else:
            box = self._stroke.paint(capsule(p0, p1, radius, doc.width, doc.height))
        if self._stroke.value:
            self.grown = union(self.grown, box)
        self._last_dab = p1
