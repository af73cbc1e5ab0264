"""The canvas: the picture at any zoom, with the mask tools, previews and the region square.

Zoom: Ctrl+wheel (under the pointer), +/−, fit. Pan: Space+drag, middle
button, or the wheel. Left button paints with the current tool; right
button does the opposite (brush erases, shapes subtract); Shift+click with
the brush draws a straight line from the last dab.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QInputDevice,
    QKeyEvent,
    QMouseEvent,
    QNativeGestureEvent,
    QPainter,
    QPainterPath,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QGraphicsItem, QGraphicsScene, QGraphicsView, QLabel, QWidget

from ..core.imaging.region import Box, region_of_interest
from ..core.imaging.tiles import AUTO_ENLARGEMENT, detail_runs
from .edge_drag import EdgeDrag
from .mask_tools import Tool, ToolSession
from .overlays import (
    BrushCursor,
    ImageLayer,
    MaskOverlay,
    OutlineItem,
    PreviewItem,
    RegionItem,
    SketchOverlay,
)
from .region_drag import AreaOptions, RegionEditor
from .session_model import SessionModel

__all__ = ["MAX_BRUSH", "CanvasView"]

MIN_ZOOM, MAX_ZOOM = 0.02, 32.0
MAX_BRUSH = 1000
_BACKGROUND = QColor(27, 28, 31)


class CanvasView(QGraphicsView):
    """Shows one document; turns mouse input into mask changes (reported as undo patches)."""

    maskEdited = Signal(object, str)
    """A finished stroke or shape: (MaskPatch, undo text). Already applied to the document."""
    zoomChanged = Signal(float)
    brushSizeChanged = Signal(int)
    openRequested = Signal()
    """The empty canvas was double-clicked."""
    comparingChanged = Signal(bool)
    sketchEdited = Signal(object, object, str)
    """A finished colour stroke: (SketchPatch, MaskPatch or None, undo text). Already applied."""
    colourChanged = Signal(object)
    extendRequested = Signal(object)
    wandClicked = Signal(int, int, str)
    """The magic wand at image pixel (x, y): "replace", "add" (Shift) or "subtract" (Alt)."""
    """Ctrl+drag beyond an edge: {"left": px, "top": px, "right": px, "bottom": px}."""
    """The colour brush's colour, (r, g, b)."""

    regionMessage = Signal(str)
    """A sentence about the generation area (grown, moved, back to automatic) for the status bar."""

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self.setScene(QGraphicsScene(self))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setBackgroundBrush(_BACKGROUND)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState, True)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAcceptDrops(False)
        self.viewport().setAcceptDrops(False)
        self._image: ImageLayer | None = None
        self._mask: MaskOverlay | None = None
        self._sketch: SketchOverlay | None = None
        self._preview: PreviewItem | None = None
        self._region = RegionItem()
        self._cursor = BrushCursor()
        self._outline = OutlineItem()
        self._tools = ToolSession(model, self._outline.set_path)
        self._model_side = 256
        self._area_options = AreaOptions()
        self._area_box: Box | None = None
        self._area_notes: tuple[str, ...] = ()
        self._hover_shape: Qt.CursorShape | None = None
        self._square = RegionEditor(
            model,
            shown=lambda: self._area_box,
            min_side=lambda: self._area_options.min_side,
            on_select=self._region.set_selected_square,
            tell=self.regionMessage.emit,
        )
        self._fit_mode = True
        self._comparing = False
        self._edge_drag: EdgeDrag | None = None
        self._space = False
        self._pan_from: QPointF | None = None
        self.before_badge = QLabel("Before", self.viewport())
        self.before_badge.setStyleSheet(
            "background: rgba(122, 162, 255, 230); color: #101216; font-weight: bold;"
            "padding: 4px 12px; border-radius: 4px;"
        )
        self.before_badge.move(12, 12)
        self.before_badge.hide()
        self._region_timer = QTimer(self, singleShot=True, interval=0)
        self._region_timer.timeout.connect(self.refresh_region)
        model.sessionReplaced.connect(self._rebuild)
        model.canvasResized.connect(self._rebuild)
        model.imageChanged.connect(self._on_image_changed)
        model.maskChanged.connect(self._on_mask_changed)
        model.sketchChanged.connect(self._on_sketch_changed)
        model.regionChanged.connect(self.refresh_region)  # at once: the next nudge starts from it
        self._rebuild()

    # -- document -------------------------------------------------------------------------

    def _rebuild(self) -> None:
        """A new document: new layers, fitted to the window."""
        self._finish_stroke()
        self._square.select(False)
        scene = self.scene()
        for item in (self._region, self._cursor, self._outline):
            if item.scene() is scene:
                scene.removeItem(item)
        scene.clear()
        self._image = self._mask = self._preview = self._sketch = None
        doc = self._model.document
        if doc is None:
            scene.setSceneRect(QRectF(0, 0, 1, 1))
            self._update_cursor()
            self.viewport().update()
            return
        self._image = ImageLayer(doc.rgb, doc.alpha)
        self._mask = MaskOverlay(doc.mask)
        self._sketch = SketchOverlay(doc.width, doc.height)
        if doc.sketch is not None:
            self._sketch.write(doc.bounds, doc.sketch)
        self._preview = PreviewItem(QRectF(0, 0, doc.width, doc.height))
        self._preview.clear()
        items = (
            self._image,
            self._mask,
            self._sketch,
            self._preview,
            self._region,
            self._outline,
            self._cursor,
        )
        for z, item in enumerate(items):
            item.setZValue(z)
            scene.addItem(item)
        scene.setSceneRect(QRectF(0, 0, doc.width, doc.height))
        self.refresh_region()
        self.fit_to_window()
        self._update_cursor()

    def _on_image_changed(self, box: Box) -> None:
        doc = self._model.document
        if self._image is not None and doc is not None:
            self._image.write(box, doc.rgb)

    def _on_mask_changed(self, box: Box) -> None:
        doc = self._model.document
        if self._mask is None or doc is None:
            return
        self._mask.write(box, doc.mask)
        session = self._model.session
        if self._tools.adding and session is not None and session.region is None:
            # Painting only grows the mask: extend the square without rescanning the mask.
            self._show_region(self._tools.grown)
        elif not self._tools.active:
            self._region_timer.start()

    def _on_sketch_changed(self, box: Box) -> None:
        doc = self._model.document
        if self._sketch is not None and doc is not None and doc.sketch is not None:
            self._sketch.write(box, doc.sketch)

    def refresh_region(self) -> None:
        doc = self._model.document
        self._show_region(doc.mask_box() if doc is not None else None)

    def _show_region(self, mask_box: Box | None) -> None:
        """The square the next run would use (``session.area``), or while painting with the
        automatic square, the one around the mask's growing bounds (no rescan per dab)."""
        doc, session, options = self._model.document, self._model.session, self._area_options
        box, notes = None, ()
        if doc is not None and session is not None and mask_box is not None:
            if session.region is None and self._tools.adding:
                box = region_of_interest(
                    mask_box, doc.width, doc.height, context=options.context, min_side=options.min_side
                )
            elif (area := session.area(context=options.context, min_side=options.min_side)) is not None:
                box, notes = area.box, area.notes
        self._area_box = box
        if box is None:
            self._square.select(False)
            self._region.set_box(None)
            return
        factor = box.width / max(self._model_side, 1)
        runs = detail_runs(options.detail, factor, auto=options.auto_detail)
        detail = "on" if runs else "offer" if factor > AUTO_ENLARGEMENT else ""
        self._region.set_box(box, self._model_side, detail=detail)
        if notes and notes != self._area_notes:
            self.regionMessage.emit(" ".join(f"{n[0].upper()}{n[1:]}." for n in notes))
        self._area_notes = notes

    def set_model_side(self, side: int) -> None:
        """The last stage's resolution, shown in the region square's label."""
        self._model_side = side
        self.refresh_region()

    def set_area_options(self, options: AreaOptions) -> None:
        """The panel's Context and Detail and the backend's model sizes, for the square."""
        if options != self._area_options:
            self._area_options = options
            self.refresh_region()

    @property
    def area_box(self) -> Box | None:
        """The generation area as shown (None while the mask is empty)."""
        return self._area_box

    @property
    def region_label(self) -> tuple[str, bool]:
        """The square's tag and whether it is in the warning colour (tests, diagnostics)."""
        return self._region.label_text, self._region.label_warning

    @property
    def region_tag(self) -> QGraphicsItem:
        """The square's tag item: what it drew last (``shown_text``) and its tooltip (tests)."""
        return self._region.label

    @property
    def region_selected(self) -> bool:
        return self._square.selected

    @property
    def region_rect(self) -> QRectF | None:
        return self._region.rect if self._region.isVisible() else None

    # -- previews ----------------------------------------------------------------------------

    def show_preview(self, image: QImage, box: Box) -> None:
        """Draw ``image`` scaled onto ``box`` over the picture (live steps or a candidate)."""
        if self._preview is not None:
            self._preview.show_image(image, box)

    def clear_preview(self) -> None:
        if self._preview is not None:
            self._preview.clear()

    @property
    def preview_showing(self) -> bool:
        return self._preview is not None and self._preview.showing

    def set_comparing(self, comparing: bool) -> None:
        """While held, show the clean original: no preview, no mask overlay."""
        self._comparing = comparing
        for item in (self._preview, self._mask, self._sketch):
            if item is not None:
                item.setOpacity(0.0 if comparing else 1.0)
        self.before_badge.setVisible(comparing)  # the original is shown: say so
        self.before_badge.adjustSize()
        self.comparingChanged.emit(comparing)

    @property
    def comparing(self) -> bool:
        return self._comparing

    # -- tools ---------------------------------------------------------------------------------

    @property
    def tool(self) -> Tool:
        return self._tools.tool

    def set_tool(self, tool: Tool) -> None:
        self._finish_stroke()
        self._tools.tool = tool
        self._update_cursor()

    @property
    def brush_size(self) -> int:
        return self._tools.brush_size

    def set_brush_size(self, size: int) -> None:
        size = max(1, min(MAX_BRUSH, int(size)))
        if size != self._tools.brush_size:
            self._tools.brush_size = size
            self._cursor.set_radius(size / 2, self.zoom)
            self.brushSizeChanged.emit(size)

    def set_brush_hardness(self, hardness: float) -> None:
        """The colour brush's hardness, 0 (soft edge) to 1 (hard edge)."""
        self._tools.hardness = min(max(hardness, 0.0), 1.0)

    def grow_brush(self, steps: int) -> None:
        """``]`` / ``[``: about 15 % per step, at least one pixel."""
        size = self._tools.brush_size
        for _ in range(abs(steps)):
            size = max(size + 1, round(size * 1.15)) if steps > 0 else min(size - 1, round(size / 1.15))
        self.set_brush_size(size)

    # -- zoom and pan ----------------------------------------------------------------------------

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, zoom: float, anchor: QPointF | None = None, *, fit: bool = False) -> None:
        """Zoom keeping the scene point under ``anchor`` (viewport coordinates) in place."""
        zoom = max(MIN_ZOOM, min(MAX_ZOOM, zoom))
        if anchor is None:
            anchor = QPointF(self.viewport().rect().center())
        before = self._to_scene(anchor)
        self.setTransform(QTransform.fromScale(zoom, zoom))
        after = self.mapFromScene(before)
        self.horizontalScrollBar().setValue(
            self.horizontalScrollBar().value() + round(after.x() - anchor.x())
        )
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + round(after.y() - anchor.y()))
        self._fit_mode = fit
        self._cursor.set_radius(self.brush_size / 2, zoom)
        self.zoomChanged.emit(zoom)

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        self.set_zoom(self.zoom * factor, anchor)

    def fit_to_window(self) -> None:
        doc = self._model.document
        if doc is None:
            return
        area = self.viewport().rect()
        zoom = min((area.width() - 24) / doc.width, (area.height() - 24) / doc.height)
        self.set_zoom(max(zoom, MIN_ZOOM), fit=True)
        self.centerOn(doc.width / 2, doc.height / 2)

    def actual_size(self) -> None:
        self.set_zoom(1.0)

    def resizeEvent(self, event: object) -> None:  # type: ignore[override]
        super().resizeEvent(event)  # type: ignore[arg-type]
        if self._fit_mode:
            self.fit_to_window()

    def _to_scene(self, pos: QPointF) -> QPointF:
        return self.viewportTransform().inverted()[0].map(pos)

    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            delta = event.angleDelta().y() or event.angleDelta().x()
            self.zoom_by(1.0015**delta, event.position())
            event.accept()
        else:
            super().wheelEvent(event)

    def viewportEvent(self, event: QEvent) -> bool:
        if (
            isinstance(event, QNativeGestureEvent)
            and event.gestureType() == Qt.NativeGestureType.ZoomNativeGesture
        ):
            self.zoom_by(
                1.0 + event.value(),
                self.viewport().mapFromGlobal(event.globalPosition().toPoint()).toPointF(),
            )
            return True
        if event.type() in (QEvent.Type.TabletPress, QEvent.Type.TabletMove, QEvent.Type.TabletRelease):
            # The pen's pressure scales the brush; Qt then sends the same input as mouse events.
            if event.type() != QEvent.Type.TabletRelease:
                self._tools.pressure = float(event.pressure())  # type: ignore[attr-defined]
            event.ignore()
            return False
        if event.type() == QEvent.Type.MouseButtonPress and not _from_pen(event):
            self._tools.pressure = 1.0  # a mouse after a pen: full size again
        return super().viewportEvent(event)

    # -- input ------------------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self._update_cursor()
        elif event.key() == Qt.Key.Key_Backslash and not event.isAutoRepeat():
            self.set_comparing(True)
        elif self._square.key(event.key(), event.modifiers()):
            event.accept()  # the selected square was nudged
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self._update_cursor()
        elif event.key() == Qt.Key.Key_Backslash and not event.isAutoRepeat():
            self.set_comparing(False)
        else:
            super().keyReleaseEvent(event)

    def focusOutEvent(self, event: object) -> None:  # type: ignore[override]
        self._space = False
        self.set_comparing(False)
        self._update_cursor()
        super().focusOutEvent(event)  # type: ignore[arg-type]

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self._model.document is None:
            self.openRequested.emit()
        elif not self._square.double_click(self._to_scene(event.position()), self.zoom):
            self.mousePressEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (self._space and button == Qt.MouseButton.LeftButton):
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
        elif self.tool is Tool.COLOUR and event.modifiers() & Qt.KeyboardModifier.AltModifier:
            self._pick_colour(self._to_scene(event.position()))
        elif self._start_extend(event):
            pass
        elif self._square.press(self._to_scene(event.position()), self.zoom, button):
            self._cursor.setVisible(False)
        elif self.tool is Tool.WAND and button == Qt.MouseButton.LeftButton:
            pos = self._to_scene(event.position())
            mods = event.modifiers()
            alt = mods & Qt.KeyboardModifier.AltModifier
            mode = "subtract" if alt else "add" if mods & Qt.KeyboardModifier.ShiftModifier else "replace"
            self.wandClicked.emit(int(pos.x()), int(pos.y()), mode)
        elif button in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            primary = button == Qt.MouseButton.LeftButton
            self._tools.begin(self._to_scene(event.position()), primary=primary, line_from_last=shift)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = self._to_scene(event.position())
        self._cursor.setPos(pos)
        self._cursor.setVisible(self._uses_brush_cursor())
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - round(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(delta.y()))
        elif self._square.dragging:
            self._cursor.setVisible(False)
            self._square.move(pos)
        elif self._edge_drag is not None:
            self._outline.set_path(self._edge_drag.outline(pos))
        elif self._tools.active:
            self._tools.move(pos, self.zoom)
        else:
            self._hover_square(pos)
        event.accept()

    def _hover_square(self, pos: QPointF) -> None:
        """Over the square's edge or corners the pointer says it can be moved or resized."""
        shape = None if self._space else self._square.hover(pos, self.zoom)
        if shape is not None:
            self._cursor.setVisible(False)
        if shape != self._hover_shape:
            self._hover_shape = shape
            if shape is None:
                self._update_cursor()
            else:
                self.viewport().setCursor(shape)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None and event.button() in (
            Qt.MouseButton.MiddleButton,
            Qt.MouseButton.LeftButton,
        ):
            self._pan_from = None
            self._update_cursor()
        elif self._square.dragging:
            self._square.release(self._to_scene(event.position()))
        elif self._edge_drag is not None:
            sides = self._edge_drag.sides(self._to_scene(event.position()))
            self._edge_drag = None
            self._outline.set_path(QPainterPath())
            if any(sides.values()):
                self.extendRequested.emit(sides)
        elif self._tools.active:
            self._tools.move(self._to_scene(event.position()), self.zoom)
            self._finish_stroke()
        event.accept()

    def _start_extend(self, event: QMouseEvent) -> bool:
        """Ctrl+drag from the picture's edge outwards grows the canvas (outpainting)."""
        doc = self._model.document
        ctrl = event.modifiers() & Qt.KeyboardModifier.ControlModifier
        if doc is None or not ctrl or event.button() != Qt.MouseButton.LeftButton:
            return False
        pos = self._to_scene(event.position())
        self._edge_drag = EdgeDrag.begin(pos, width=doc.width, height=doc.height, zoom=self.zoom)
        return self._edge_drag is not None

    def leaveEvent(self, event: object) -> None:  # type: ignore[override]
        self._cursor.setVisible(False)
        super().leaveEvent(event)  # type: ignore[arg-type]

    def _finish_stroke(self) -> None:
        """End a stroke in progress; its changes become one undo step."""
        if not self._tools.active:
            return
        result = self._tools.end()
        self.refresh_region()
        if result is None:
            return
        change, label = result
        if isinstance(change, tuple):
            self.sketchEdited.emit(change[0], change[1], label)
        else:
            self.maskEdited.emit(change, label)

    # -- colour ---------------------------------------------------------------------------------

    @property
    def colour(self) -> tuple[int, int, int]:
        return self._tools.colour

    def set_colour(self, colour: tuple[int, int, int]) -> None:
        if colour != self._tools.colour:
            self._tools.colour = colour
            self.colourChanged.emit(colour)

    def _pick_colour(self, pos: QPointF) -> None:
        """Alt+click with the colour brush: take the picture's colour under the pointer."""
        doc = self._model.document
        x, y = int(pos.x()), int(pos.y())
        if doc is not None and 0 <= x < doc.width and 0 <= y < doc.height:
            self.set_colour(tuple(int(v) for v in doc.rgb[y, x]))  # type: ignore[arg-type]

    def _uses_brush_cursor(self) -> bool:
        return self._model.document is not None and self.tool.brush_like and not self._space

    def _update_cursor(self) -> None:
        if self._model.document is None:
            shape = Qt.CursorShape.ArrowCursor
        elif self._space:
            shape = Qt.CursorShape.OpenHandCursor
        elif self.tool.brush_like:
            shape = Qt.CursorShape.BlankCursor
        else:
            shape = Qt.CursorShape.CrossCursor
        self.viewport().setCursor(shape)
        self._cursor.set_radius(self.brush_size / 2, self.zoom)
        if not self._uses_brush_cursor():
            self._cursor.setVisible(False)  # shown again by the next mouse move

    # -- empty state ----------------------------------------------------------------------------

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        if self._model.document is not None:
            return
        painter.save()
        painter.resetTransform()
        area = QRectF(self.viewport().rect())
        painter.setPen(QColor(150, 152, 160))
        font = painter.font()
        font.setPointSizeF(font.pointSizeF() * 1.5)
        painter.setFont(font)
        title = area.adjusted(0, 0, 0, -30)
        painter.drawText(title, Qt.AlignmentFlag.AlignCenter, "Open a photo to start editing")
        font.setPointSizeF(font.pointSizeF() / 1.5)
        painter.setFont(font)
        painter.setPen(QColor(110, 112, 120))
        hint = "Ctrl+O to browse · drop a file here · Ctrl+V to paste · double-click to open"
        painter.drawText(area.adjusted(0, 30, 0, 0), Qt.AlignmentFlag.AlignCenter, hint)
        painter.restore()


def _from_pen(event: QEvent) -> bool:
    """A mouse event that a tablet pen's input was turned into."""
    device = getattr(event, "pointingDevice", lambda: None)()
    return device is not None and device.type() in (
        QInputDevice.DeviceType.Stylus,
        QInputDevice.DeviceType.Airbrush,
    )
