"""Ctrl+drag from the picture's edge outwards: how far each side is pulled, and its outline.

Pure geometry on scene points (picture pixels), so the canvas only forwards
the mouse; sides grow in steps of 8 pixels, and only the sides the drag
started beyond (within 12 screen pixels of the edge, or outside it).
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QPainterPath

__all__ = ["EdgeDrag"]

EDGE_PX = 12
STEP = 8


class EdgeDrag:
    def __init__(self, start: QPointF, *, width: int, height: int, zoom: float) -> None:
        self.start, self.width, self.height = start, width, height
        self.margin = EDGE_PX / max(zoom, 1e-6)

    @classmethod
    def begin(cls, pos: QPointF, *, width: int, height: int, zoom: float) -> EdgeDrag | None:
        """A drag when ``pos`` is on or beyond an edge; None well inside the picture."""
        drag = cls(pos, width=width, height=height, zoom=zoom)
        m = drag.margin
        inside = m <= pos.x() <= width - m and m <= pos.y() <= height - m
        return None if inside else drag

    def sides(self, pos: QPointF) -> dict[str, int]:
        start, m = self.start, self.margin

        def grid(amount: float) -> int:
            return max(0, round(amount / STEP) * STEP)

        return {
            "left": grid(-pos.x()) if start.x() < m else 0,
            "top": grid(-pos.y()) if start.y() < m else 0,
            "right": grid(pos.x() - self.width) if start.x() > self.width - m else 0,
            "bottom": grid(pos.y() - self.height) if start.y() > self.height - m else 0,
        }

    def outline(self, pos: QPointF) -> QPainterPath:
        """The extended canvas's rectangle, drawn while dragging."""
        e = self.sides(pos)
        path = QPainterPath()
        width, height = self.width + e["left"] + e["right"], self.height + e["top"] + e["bottom"]
        path.addRect(QRectF(-e["left"], -e["top"], width, height))
        return path
