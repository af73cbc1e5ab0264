"""Line icons drawn with QPainter at run time (no icon files to ship or lose).

Each icon is drawn on a 24-unit grid with rounded 1.8-unit strokes, in the
theme's foreground colour; ``python -m glide_studio.qt.icons DIR`` writes
them as PNG files (the copies in glide_studio/resources/icons come from there).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap

__all__ = ["ICONS", "app_icon", "icon"]

FOREGROUND = QColor(214, 217, 224)
ACCENT = QColor(122, 162, 255)
Draw = Callable[[QPainter], None]


def _path(*points: tuple[float, float], close: bool = False) -> QPainterPath:
    path = QPainterPath(QPointF(*points[0]))
    for p in points[1:]:
        path.lineTo(QPointF(*p))
    if close:
        path.closeSubpath()
    return path


def _brush(p: QPainter) -> None:
    p.drawPath(_path((19, 3), (21, 5), (11, 15), (9, 13), close=True))
    tip = QPainterPath(QPointF(9, 13))
    tip.cubicTo(6, 13, 5, 15, 5, 17)
    tip.cubicTo(5, 19, 4, 20, 3, 21)
    tip.cubicTo(7, 21, 11, 20, 11, 15)
    p.drawPath(tip)


def _colour(p: QPainter) -> None:
    """A palette: the colour brush."""
    palette = QPainterPath(QPointF(12, 3))
    palette.cubicTo(6, 3, 3, 7, 3, 12)
    palette.cubicTo(3, 17, 7, 21, 12, 21)
    palette.cubicTo(14, 21, 14, 18, 13, 17)
    palette.cubicTo(12, 15, 14, 14, 16, 14)
    palette.cubicTo(19, 14, 21, 13, 21, 10)
    palette.cubicTo(21, 6, 17, 3, 12, 3)
    p.drawPath(palette)
    for x, y in ((8, 9), (12, 7), (16, 9), (8, 14)):
        p.drawEllipse(QRectF(x - 1.2, y - 1.2, 2.4, 2.4))


def _eraser(p: QPainter) -> None:
    p.drawPath(_path((14, 4), (21, 11), (12, 20), (8, 20), (3, 15), close=True))
    p.drawLine(QPointF(8.5, 9.5), QPointF(15.5, 16.5))
    p.drawLine(QPointF(12, 20), QPointF(21, 20))


def _rectangle(p: QPainter) -> None:
    pen = p.pen()
    pen.setStyle(Qt.PenStyle.DashLine)
    pen.setDashPattern([2.0, 1.6])
    p.setPen(pen)
    p.drawRoundedRect(QRectF(4, 5, 16, 14), 1.5, 1.5)


def _lasso(p: QPainter) -> None:
    p.drawEllipse(QRectF(3, 4, 18, 11))
    tail = QPainterPath(QPointF(8, 14))
    tail.cubicTo(6, 17, 9, 18, 9, 21)
    p.drawPath(tail)


def _open(p: QPainter) -> None:
    p.drawPath(_path((3, 19), (3, 5), (9, 5), (11, 7), (19, 7), (19, 10)))
    p.drawPath(_path((3, 19), (6, 10), (22, 10), (19, 19), close=True))


def _save(p: QPainter) -> None:
    p.drawPath(_path((4, 4), (17, 4), (20, 7), (20, 20), (4, 20), close=True))
    p.drawRect(QRectF(8, 4, 7, 5))
    p.drawRect(QRectF(7, 13, 10, 7))


def _arrow_turn(p: QPainter, mirror: bool) -> None:
    if mirror:
        p.translate(24, 0)
        p.scale(-1, 1)
    curve = QPainterPath(QPointF(5, 10))
    curve.lineTo(15, 10)
    curve.cubicTo(19, 10, 21, 12.5, 21, 15)
    curve.cubicTo(21, 17.5, 19, 20, 15, 20)
    curve.lineTo(11, 20)
    p.drawPath(curve)
    p.drawPath(_path((9, 6), (5, 10), (9, 14)))


def _undo(p: QPainter) -> None:
    _arrow_turn(p, False)


def _redo(p: QPainter) -> None:
    _arrow_turn(p, True)


def _magnifier(p: QPainter, plus: bool | None) -> None:
    p.drawEllipse(QRectF(3.5, 3.5, 13, 13))
    p.drawLine(QPointF(14.5, 14.5), QPointF(20.5, 20.5))
    if plus is not None:
        p.drawLine(QPointF(7, 10), QPointF(13, 10))
    if plus:
        p.drawLine(QPointF(10, 7), QPointF(10, 13))


def _fit(p: QPainter) -> None:
    for sx, sy in ((1, 1), (-1, 1), (1, -1), (-1, -1)):
        p.save()
        p.translate(12, 12)
        p.scale(sx, sy)
        p.drawPath(_path((-8, -3), (-8, -8), (-3, -8)))
        p.restore()
    p.drawRect(QRectF(8, 8, 8, 8))


def _actual(p: QPainter) -> None:
    p.drawRoundedRect(QRectF(3, 5, 18, 14), 2, 2)
    p.drawPath(_path((7, 10), (8.5, 9), (8.5, 15)))
    p.drawPoint(QPointF(12, 10.5))
    p.drawPoint(QPointF(12, 14))
    p.drawPath(_path((14.5, 10), (16, 9), (16, 15)))


def _sparkle(p: QPainter) -> None:
    star = QPainterPath(QPointF(10, 3))
    star.quadTo(11, 10, 17, 11)
    star.quadTo(11, 12, 10, 19)
    star.quadTo(9, 12, 3, 11)
    star.quadTo(9, 10, 10, 3)
    p.drawPath(star)
    p.drawLine(QPointF(18, 3), QPointF(18, 7))
    p.drawLine(QPointF(16, 5), QPointF(20, 5))
    p.drawLine(QPointF(18, 16), QPointF(18, 21))
    p.drawLine(QPointF(15.5, 18.5), QPointF(20.5, 18.5))


def _stop(p: QPainter) -> None:
    p.drawEllipse(QRectF(3, 3, 18, 18))
    p.drawRect(QRectF(9, 9, 6, 6))


def _check(p: QPainter) -> None:
    p.drawPath(_path((4, 12.5), (9.5, 18), (20, 6)))


def _trash(p: QPainter) -> None:
    p.drawLine(QPointF(4, 6.5), QPointF(20, 6.5))
    p.drawPath(_path((9, 6.5), (9.5, 3.5), (14.5, 3.5), (15, 6.5)))
    p.drawPath(_path((6, 6.5), (7, 20.5), (17, 20.5), (18, 6.5)))
    p.drawLine(QPointF(10.5, 10), QPointF(10.5, 17))
    p.drawLine(QPointF(13.5, 10), QPointF(13.5, 17))


def _dice(p: QPainter) -> None:
    p.drawRoundedRect(QRectF(3.5, 3.5, 17, 17), 3.5, 3.5)
    brush_pen = QPen(p.pen())
    brush_pen.setWidthF(3.2)
    p.setPen(brush_pen)
    for x, y in ((8, 8), (16, 8), (12, 12), (8, 16), (16, 16)):
        p.drawPoint(QPointF(x, y))


def _lock(p: QPainter, closed: bool) -> None:
    p.drawRoundedRect(QRectF(5, 11, 14, 10), 2, 2)
    lift = 0.0 if closed else 3.5  # an open lock's shackle is raised, its right leg free
    arc = QPainterPath(QPointF(8, 11 - lift * 0.4))
    arc.lineTo(8, 7.5 - lift)
    arc.arcTo(QRectF(8, 3.5 - lift, 8, 8), 180, -180)
    arc.lineTo(16, 11 if closed else 6)
    p.drawPath(arc)
    p.drawLine(QPointF(12, 15), QPointF(12, 17))


def _invert(p: QPainter) -> None:
    p.drawEllipse(QRectF(3.5, 3.5, 17, 17))
    half = QPainterPath(QPointF(12, 3.5))
    half.arcTo(QRectF(3.5, 3.5, 17, 17), 90, -180)
    half.closeSubpath()
    p.setBrush(p.pen().color())
    p.drawPath(half)


def _clear(p: QPainter) -> None:
    pen = p.pen()
    pen.setStyle(Qt.PenStyle.DashLine)
    pen.setDashPattern([2.0, 1.6])
    p.setPen(pen)
    p.drawRect(QRectF(4, 4, 16, 16))
    pen.setStyle(Qt.PenStyle.SolidLine)
    p.setPen(pen)
    p.drawLine(QPointF(9, 9), QPointF(15, 15))
    p.drawLine(QPointF(15, 9), QPointF(9, 15))


def _select_all(p: QPainter) -> None:
    p.setBrush(QColor(FOREGROUND.red(), FOREGROUND.green(), FOREGROUND.blue(), 90))
    p.drawRect(QRectF(4, 4, 16, 16))


def _history(p: QPainter) -> None:
    p.drawEllipse(QRectF(4, 4, 16, 16))
    p.drawPath(_path((12, 8), (12, 12), (15, 14)))


def _app(p: QPainter) -> None:
    """Rounded square, a hill and a sun, with a sparkle: 'edit a picture with a prompt'."""
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(42, 48, 66))
    p.drawRoundedRect(QRectF(1, 1, 22, 22), 5, 5)
    p.setBrush(QColor(255, 196, 92))
    p.drawEllipse(QRectF(5, 5, 6, 6))
    p.setBrush(QColor(88, 170, 120))
    p.drawPath(_path((1, 19), (8, 12), (13, 16), (17, 13), (23, 18), (23, 23), (1, 23), close=True))
    p.setBrush(ACCENT)
    star = QPainterPath(QPointF(17.5, 3))
    for k in range(1, 8):
        r = 4.2 if k % 2 == 0 else 1.3
        angle = math.pi / 2 - k * math.pi / 4
        star.lineTo(17.5 + r * math.cos(angle), 7.2 - r * math.sin(angle))
    star.closeSubpath()
    p.drawPath(star)


def _wand(p: QPainter) -> None:
    """A magic wand: a stick with a spark at its tip."""
    p.drawLine(QPointF(4, 20), QPointF(14, 10))
    for dx, dy in ((0, -4), (4, 0), (0, 4), (-4, 0)):
        p.drawLine(QPointF(17 + dx * 0.4, 7 + dy * 0.4), QPointF(17 + dx, 7 + dy))


ICONS: dict[str, Draw] = {
    "wand": _wand,
    "brush": _brush,
    "eraser": _eraser,
    "rectangle": _rectangle,
    "lasso": _lasso,
    "colour": _colour,
    "open": _open,
    "save": _save,
    "undo": _undo,
    "redo": _redo,
    "zoom-in": lambda p: _magnifier(p, True),
    "zoom-out": lambda p: _magnifier(p, False),
    "zoom-fit": _fit,
    "zoom-actual": _actual,
    "generate": _sparkle,
    "cancel": _stop,
    "apply": _check,
    "discard": _trash,
    "dice": _dice,
    "lock": lambda p: _lock(p, True),
    "unlock": lambda p: _lock(p, False),
    "invert": _invert,
    "clear": _clear,
    "select-all": _select_all,
    "history": _history,
}


def render(name: str, size: int, color: QColor = FOREGROUND) -> QPixmap:
    draw = _app if name == "app" else ICONS[name]
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.scale(size / 24, size / 24)
    pen = QPen(color, 1.8, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    draw(painter)
    painter.end()
    return pixmap


def icon(name: str, color: QColor = FOREGROUND) -> QIcon:
    result = QIcon()
    for size in (16, 24, 32, 48):
        result.addPixmap(render(name, size, color))
    return result


def app_icon() -> QIcon:
    result = QIcon()
    for size in (16, 32, 48, 64, 128, 256):
        result.addPixmap(render("app", size))
    return result


def export(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in [*ICONS, "app"]:
        render(name, 256 if name == "app" else 48).save(str(folder / f"{name}.png"))


if __name__ == "__main__":  # pragma: no cover
    from PySide6.QtGui import QGuiApplication

    _app_instance = QGuiApplication(sys.argv)
    export(Path(sys.argv[1] if len(sys.argv) > 1 else "glide_studio/resources/icons"))
