"""Moving and resizing the generation area (the dashed square) with the mouse and the keys.

The square's state lives in the editing session (``session.region``); this only turns
pointer and key input into ``session.set_region`` calls. Painting stays the canvas's main
use: a press on the square's edge or a corner handle takes the square (and selects it);
while it is selected a drag inside it moves it too, the arrow keys nudge it (Shift: 10 px),
and a click outside gives the canvas back to the mask tools. A double-click on the square
sets it back to automatic.

Every square made here holds the whole mask and is at least the model's input size, and it
lies inside the picture where it fits, so a drag can never leave it outside the picture.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QPointF, Qt

from ..core.imaging.region import Box, Region
from .session_model import SessionModel

__all__ = ["EDGE_PX", "AreaOptions", "RegionDrag", "RegionEditor", "fit_square"]

EDGE_PX = 6
"""How close (in screen pixels) to the square's edge a press takes the square."""
CORNER_PX = 9
"""How close to a corner a press resizes (the handles are drawn about this size)."""


@dataclass(frozen=True)
class Limits:
    """What a chosen square must respect: the mask's bounds, the picture, the model's input."""

    mask: Box
    width: int
    height: int
    min_side: int

    @property
    def smallest(self) -> int:
        need = max(self.mask.width, self.mask.height)
        return max(need, min(self.min_side, max(self.width, self.height)))


def _span(start: int, side: int, lo_mask: int, hi_mask: int, limit: int) -> int:
    """``start`` moved as little as needed so the span holds [lo_mask, hi_mask) and lies
    inside [0, limit) where it fits (centred overhang otherwise)."""
    lo = max(hi_mask - side, min(0, limit - side))
    hi = min(lo_mask, max(0, limit - side))
    return min(max(start, lo), hi) if lo <= hi else lo


def fit_square(left: int, top: int, side: int, limits: Limits) -> Region:
    """The nearest valid square to (``left``, ``top``, ``side``): grown to ``limits.smallest``,
    at most the picture's longer side, holding the mask, inside the picture where it fits."""
    side = max(limits.smallest, min(side, max(limits.width, limits.height)))
    left = _span(left, side, limits.mask.left, limits.mask.right, limits.width)
    top = _span(top, side, limits.mask.top, limits.mask.bottom, limits.height)
    return Region(left=left, top=top, size=side)


class RegionDrag:
    """One drag: a move (``corner`` None) or a resize from a corner, the opposite one fixed."""

    def __init__(self, start: QPointF, box: Box, limits: Limits, corner: tuple[int, int] | None) -> None:
        self.start, self.box, self.limits, self.corner = start, box, limits, corner
        self.clamped = False
        """The pointer asked for a square smaller than the mask allows (told at the end)."""

    def region(self, pos: QPointF) -> Region:
        box = self.box
        if self.corner is None:
            dx, dy = round(pos.x() - self.start.x()), round(pos.y() - self.start.y())
            return fit_square(box.left + dx, box.top + dy, box.width, self.limits)
        cx, cy = self.corner  # -1: the left/top corner moves; +1: the right/bottom one
        fixed_x = box.right if cx < 0 else box.left
        fixed_y = box.bottom if cy < 0 else box.top
        wanted = round(max(abs(pos.x() - fixed_x), abs(pos.y() - fixed_y)))
        self.clamped = wanted < self.limits.smallest
        side = max(wanted, self.limits.smallest)
        left = fixed_x - side if cx < 0 else fixed_x
        top = fixed_y - side if cy < 0 else fixed_y
        return fit_square(left, top, side, self.limits)


def hit(box: Box, pos: QPointF, zoom: float, *, selected: bool) -> tuple[int, int] | str | None:
    """What a press at ``pos`` (scene pixels) takes: a corner (dx, dy), "move", or None."""
    scale = max(zoom, 1e-6)
    corner_reach, edge_reach = CORNER_PX / scale, EDGE_PX / scale
    x, y = pos.x(), pos.y()
    for cx, px in ((-1, box.left), (1, box.right)):
        for cy, py in ((-1, box.top), (1, box.bottom)):
            if abs(x - px) <= corner_reach and abs(y - py) <= corner_reach:
                return (cx, cy)
    within_x = box.left - edge_reach <= x <= box.right + edge_reach
    within_y = box.top - edge_reach <= y <= box.bottom + edge_reach
    on_vertical = within_y and min(abs(x - box.left), abs(x - box.right)) <= edge_reach
    on_horizontal = within_x and min(abs(y - box.top), abs(y - box.bottom)) <= edge_reach
    if on_vertical or on_horizontal:
        return "move"
    inside = box.left <= x <= box.right and box.top <= y <= box.bottom
    return "move" if selected and inside else None


_CURSORS = {
    (-1, -1): Qt.CursorShape.SizeFDiagCursor,
    (1, 1): Qt.CursorShape.SizeFDiagCursor,
    (-1, 1): Qt.CursorShape.SizeBDiagCursor,
    (1, -1): Qt.CursorShape.SizeBDiagCursor,
}

_ARROWS = {
    Qt.Key.Key_Left: (-1, 0),
    Qt.Key.Key_Right: (1, 0),
    Qt.Key.Key_Up: (0, -1),
    Qt.Key.Key_Down: (0, 1),
}


class RegionEditor:
    """The canvas's handling of the square: it forwards presses, moves, releases and keys."""

    def __init__(
        self,
        model: SessionModel,
        *,
        shown: Callable[[], Box | None],
        min_side: Callable[[], int],
        on_select: Callable[[bool], None],
        tell: Callable[[str], None],
    ) -> None:
        self._model, self._shown, self._min_side = model, shown, min_side
        self._on_select, self._tell = on_select, tell
        self._drag: RegionDrag | None = None
        self.selected = False

    def _limits(self) -> Limits | None:
        doc = self._model.document
        mask = doc.mask_box() if doc is not None else None
        if doc is None or mask is None:
            return None
        return Limits(mask, doc.width, doc.height, self._min_side())

    def select(self, on: bool) -> None:
        if on != self.selected:
            self.selected = on
            self._on_select(on)

    @property
    def dragging(self) -> bool:
        return self._drag is not None

    def hover(self, pos: QPointF, zoom: float) -> Qt.CursorShape | None:
        """The pointer's shape over the square (None: the tool's own)."""
        box = self._shown()
        what = hit(box, pos, zoom, selected=self.selected) if box is not None else None
        if what is None:
            return None
        return Qt.CursorShape.SizeAllCursor if what == "move" else _CURSORS[what]  # type: ignore[index]

    def press(self, pos: QPointF, zoom: float, button: Qt.MouseButton) -> bool:
        """True when the press took the square (the tools must not see it)."""
        box = self._shown()
        what = hit(box, pos, zoom, selected=self.selected) if box is not None else None
        limits = self._limits()
        if what is None or limits is None or box is None or button != Qt.MouseButton.LeftButton:
            self.select(False)
            return False
        self.select(True)
        corner = None if what == "move" else what
        self._drag = RegionDrag(pos, box, limits, corner)  # type: ignore[arg-type]
        return True

    def move(self, pos: QPointF) -> None:
        drag, session = self._drag, self._model.session
        if drag is None or session is None:
            return
        region = drag.region(pos)
        if region.box != drag.box or session.region is not None:
            session.set_region(region)

    def release(self, pos: QPointF) -> None:
        drag, self._drag = self._drag, None
        if drag is None:
            return
        self.move(pos)
        if drag.clamped:
            self._tell(
                f"The generation area holds the whole mask: it cannot be smaller than "
                f"{drag.limits.smallest} px here."
            )

    def double_click(self, pos: QPointF, zoom: float) -> bool:
        """On the square: back to automatic (it follows the mask again)."""
        box, session = self._shown(), self._model.session
        if box is None or session is None or hit(box, pos, zoom, selected=self.selected) is None:
            return False
        self._drag = None
        if session.region is not None:
            session.set_region(None)
            self._tell("The generation area follows the mask again (automatic).")
        return True

    def key(self, key: int, modifiers: Qt.KeyboardModifier) -> bool:
        """Arrow keys nudge the selected square by 1 px (Shift: 10 px); True when used."""
        step = _ARROWS.get(Qt.Key(key))
        box, limits, session = self._shown(), self._limits(), self._model.session
        if not self.selected or step is None or box is None or limits is None or session is None:
            return False
        amount = 10 if modifiers & Qt.KeyboardModifier.ShiftModifier else 1
        region = fit_square(box.left + step[0] * amount, box.top + step[1] * amount, box.width, limits)
        if region.box == box:
            self._tell("The generation area cannot go further: it holds the whole mask inside the picture.")
        session.set_region(region)
        return True


@dataclass(frozen=True, kw_only=True)
class AreaOptions:
    """What the canvas needs to show the square as the next run will use it."""

    context: float = 1.0
    """The panel's Context (× the mask's size) for the automatic square."""
    min_side: int = 64
    """The base model's input: no square is smaller."""
    detail: str = "auto"
    auto_detail: bool = False
    """The backend runs detail "auto" by itself (``BackendInfo.auto_detail``)."""
