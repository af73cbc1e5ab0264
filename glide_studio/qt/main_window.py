"""The main window: canvas in the middle, tools on the left, prompt and history on the right,
candidates along the bottom. It wires the parts together and owns nothing global: settings,
the engine factory and the weights store are passed in.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QSize, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication, QIcon
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QToolBar,
    QWidget,
)

from ..core.editing.autosave import autosave_folder
from ..core.editing.session import SessionError
from .actions import ActionHandlers, Actions, create_actions, make_action
from .backend_controller import BackendController
from .canvas import MAX_BRUSH, CanvasView
from .colour_button import ColourButton
from .compare_keys import CompareKeyFilter
from .convert import to_pixmap
from .dialogs import show_error, show_info
from .extend_dialog import ExtendDialog
from .file_actions import FileActions
from .generation import GenerationController
from .live import LiveController
from .mask_panel import MaskPanel
from .mask_tools import Tool
from .panels.candidates import CandidatesStrip
from .panels.history_panel import HistoryPanel, original_thumbnail
from .panels.prompt_panel import PromptPanel
from .preparation import RunPreparation
from .recovery import RecoveryController
from .region_controller import RegionController
from .reuse import ReuseController
from .session_model import SessionModel
from .settings import Settings
from .status import StatusBar
from .worker import BackendFactory, BackendService

__all__ = ["STOP_WAIT_MS", "MainWindow"]

IDLE_STOP_MS = 50
STOP_WAIT_MS = 1000
"""How long a closing window waits for the model thread before the app quits anyway."""

KEYS = (
    (
        "<b>B / E / R / L / P</b>",
        "Brush, eraser, rectangle, lasso, colour brush (right button: the opposite)",
    ),
    ("<b>Alt+click</b>", "With the colour brush: take the picture's colour"),
    ("<b>[ / ]</b>", "Smaller / larger brush"),
    ("<b>Shift+click</b>", "Straight brush line from the last dab"),
    ("<b>Ctrl+A / Ctrl+Shift+A / Ctrl+I</b>", "Mask everything / clear the mask / invert it"),
    ("<b>Enter</b> (in the prompt), <b>Ctrl+Enter</b>", "Generate (focus then returns to the canvas)"),
    ("<b>Esc</b>", "Cancel the run (it stops inside the current step)"),
    ("<b>1 … 9</b>", "Show candidate 1 … 9 in place"),
    ("<b>\\</b> (hold), <b>Before / after</b>", "Compare with the clean original"),
    ("<b>Ctrl+Shift+Enter</b> / double-click", "Apply the selected candidate"),
    ("<b>Ctrl+Backspace</b>", "Discard the candidates"),
    ("<b>Ctrl+Z / Ctrl+Shift+Z</b>", "Undo / redo strokes, edits and canvas extensions"),
    ("<b>Ctrl+drag</b> beyond an edge, <b>Ctrl+Alt+E</b>", "Extend the canvas (Generate then fills it)"),
    ("<b>Ctrl+wheel, + / −</b>", "Zoom; <b>0</b> fits, <b>Ctrl+1</b> is 100 %"),
    ("<b>Space+drag, middle drag</b>", "Pan"),
    ("<b>Ctrl+N / Ctrl+O / Ctrl+V</b>", "New canvas / open a picture or project / paste"),
    ("<b>Ctrl+S / Ctrl+Shift+S / Ctrl+Alt+S / Ctrl+E</b>", "Save / save as / save project / export a copy"),
    ("<b>Ctrl+R / F1 / Ctrl+Q</b>", "A new random seed / this list / quit"),
    ("<b>W</b>; <b>Shift+click / Alt+click</b>", "Magic wand: mask by colour; add to / take from the mask"),
    ("<b>Ctrl+] / Ctrl+[</b>", "Grow / shrink the mask (by the pixels set in the Mask panel)"),
    ("<b>Ctrl+Shift+C</b>", "Copy the selected candidate (or the picture) to the clipboard"),
    ("<b>Ctrl+L</b>", "Live mode on or off: a quick edit follows each stroke"),
    (
        "Drag the dashed square's edge / corner; <b>arrows</b> (Shift: 10 px); double-click",
        "Move / resize what the model sees; nudge it while selected; back to automatic",
    ),
)
"""(keys, action) rows of the F1 help; the README's keys table says the same."""
SHORTCUTS = (
    "<table cellspacing=4>" + "".join(f"<tr><td>{k}</td><td>{a}</td></tr>" for k, a in KEYS) + "</table>"
)


def brush_for(width: int, height: int, current: int) -> int:
    """The brush in image pixels, scaled to the picture when the current one is far off for it.

    A 40 px brush is a fat stroke on a 640 px picture and a hairline on a 4000 px
    photo (2 px at the model's 64 px): keep the user's size when it is within a
    sensible range for this picture, else a fifteenth of its shorter side.
    """
    short = min(width, height)
    if short / 60 <= current <= short / 3:
        return current
    return max(4, min(MAX_BRUSH, round(short / 15)))


class MainWindow(QMainWindow):
    def __init__(
        self,
        *,
        settings: Settings,
        backend_factory: BackendFactory,
        store_locator: Callable[[], Any] | None = None,
        start_backend: bool = True,
        data_folder: Path | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self._closing = ""
        """'' while open, 'stopping' while the model thread winds down, 'done' when closed."""
        self.setWindowTitle("GLIDE Studio")
        self.setAcceptDrops(True)
        self.session_model = SessionModel(self)
        self.canvas = CanvasView(self.session_model)
        self.canvas.set_brush_size(settings.brush_size)
        self.prompt_panel = PromptPanel(settings.generation())
        self.candidates = CandidatesStrip()
        self.history = HistoryPanel(self.session_model)
        self.status = StatusBar(self)
        self.setStatusBar(self.status)
        self.backends = BackendController(
            parent=self,
            settings=settings,
            local_factory=backend_factory,
            store_locator=store_locator,
            status=self.status,
            panel=self.prompt_panel,
            canvas=self.canvas,
            running=lambda: self.service.busy,
        )
        self.service = BackendService(self.backends.open_backend, parent=self)
        self.backends.attach(self.service)
        self.generation = GenerationController(
            service=self.service,
            model=self.session_model,
            canvas=self.canvas,
            panel=self.prompt_panel,
            strip=self.candidates,
            parent=self,
        )
        self.preparation = RunPreparation(service=self.service, panel=self.prompt_panel, parent=self)
        self.regions = RegionController(
            service=self.service, model=self.session_model, canvas=self.canvas,
            panel=self.prompt_panel, status=self.status, parent=self,
        )  # fmt: skip
        self.live = LiveController(
            service=self.service,
            model=self.session_model,
            panel=self.prompt_panel,
            generation=self.generation,
            parent=self,
        )
        self.live_action = make_action(
            self, "&Live Mode", self.live.toggle, shortcuts=("Ctrl+L",), checkable=True,
            tip="Live mode: a quick edit follows each stroke, mask or prompt change",
        )  # fmt: skip
        self.prompt_panel.live.toggled.connect(self.live_action.setChecked)
        self.recovery = RecoveryController(
            model=self.session_model, folder=data_folder or autosave_folder(), parent=self
        )
        self.files = FileActions(
            model=self.session_model,
            settings=settings,
            parent=self,
            before_replace=lambda: self.generation.discard() if self.generation.running else None,
        )
        self.actions_ = create_actions(self, self._handlers())
        self.mask_panel = MaskPanel(self.session_model, settings=settings)
        self.mask_actions = self.mask_panel.make_actions(self)
        self.reuse = ReuseController(model=self.session_model, panel=self.prompt_panel, parent=self)
        self.copy_action = make_action(
            self, "&Copy Result", self.reuse.copy, shortcuts=("Ctrl+Shift+C",),
            tip="Copy the selected candidate (or else the picture) to the clipboard",
        )  # fmt: skip
        self._build_layout(self.actions_)
        self._ready_timer = QTimer(self, singleShot=True, interval=80)
        self._ready_timer.timeout.connect(self._update_ready)
        self._connect()
        self._restore()
        self._on_session_replaced()
        if start_backend:
            self.service.start()

    def _handlers(self) -> ActionHandlers:
        files, gen, canvas, backends = self.files, self.generation, self.canvas, self.backends
        return ActionHandlers(
            new=files.new_canvas,
            open=files.open_dialog,
            paste=files.paste,
            save=files.save,
            save_as=files.save_as,
            save_project=files.save_project,
            export=files.export,
            quit=self.close,
            undo=self.undo,
            redo=self.redo,
            select_all=self.select_all,
            clear_mask=self.clear_mask,
            invert_mask=self.invert_mask,
            zoom_by=canvas.zoom_by,
            zoom_fit=canvas.fit_to_window,
            zoom_actual=canvas.actual_size,
            generate=gen.generate,
            cancel=gen.cancel,
            apply=gen.apply,
            discard=gen.discard,
            random_seed=self.prompt_panel.randomize_seed,
            grow_brush=canvas.grow_brush,
            download=backends.show_download_dialog,
            reload_models=backends.reload_models,
            backend=backends.choose_backend,
            extend_canvas=self.extend_canvas,
            shortcuts_help=self.show_shortcuts,
            set_tool=self.set_tool,
            select_candidate=self.candidates.select,
        )

    # -- layout ------------------------------------------------------------------------------

    def _build_layout(self, a: Actions) -> None:
        self.setCentralWidget(self.canvas)
        self.setDockNestingEnabled(True)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addActions([a.new, a.open])
        file_menu.addMenu(self.files.recent_menu)
        file_menu.addActions([a.paste])
        file_menu.addSeparator()
        file_menu.addActions([a.save, a.save_as, a.save_project, a.export])
        file_menu.addSeparator()
        file_menu.addAction(a.quit)
        edit_menu = self.menuBar().addMenu("&Edit")
        edit_menu.addActions([a.undo, a.redo])
        edit_menu.addSeparator()
        edit_menu.addActions([*a.tools.values(), a.brush_smaller, a.brush_larger])
        edit_menu.addSeparator()
        edit_menu.addActions([a.select_all, a.clear_mask, a.invert_mask, *self.mask_actions])
        edit_menu.addSeparator()
        edit_menu.addAction(self.copy_action)
        image_menu = self.menuBar().addMenu("&Image")
        image_menu.addActions([a.extend_canvas])
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addActions([a.zoom_in, a.zoom_out, a.zoom_fit, a.zoom_actual])
        gen_menu = self.menuBar().addMenu("&Generate")
        gen_menu.addActions([a.generate, a.cancel, a.apply, a.discard, a.random_seed, self.live_action])
        models_menu = self.menuBar().addMenu("&Models")
        models_menu.addActions([a.backend, a.download, a.reload_models])
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(a.shortcuts_help)
        self._build_toolbars(a)
        view_menu.addSeparator()
        for dock in self._build_docks():
            view_menu.addAction(dock.toggleViewAction())

    def _build_toolbars(self, a: Actions) -> None:
        tools = QToolBar("Tools", self)
        tools.setObjectName("tools")
        tools.setIconSize(QSize(22, 22))
        tools.setMovable(False)
        tools.addActions(list(a.tools.values()))
        self.colour_button = ColourButton(self.canvas.colour)
        tools.addWidget(self.colour_button)
        tools.addSeparator()
        tools.addActions([a.select_all, a.invert_mask, a.clear_mask])
        self.addToolBar(Qt.ToolBarArea.LeftToolBarArea, tools)
        top = QToolBar("Main", self)
        top.setObjectName("main")
        top.setIconSize(QSize(20, 20))
        top.setMovable(False)
        top.addActions([a.open, a.save])
        top.addSeparator()
        top.addActions([a.undo, a.redo])
        top.addSeparator()
        top.addWidget(self._brush_controls())
        top.addSeparator()
        top.addActions([a.zoom_out, a.zoom_in, a.zoom_fit, a.zoom_actual])
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, top)

    def _brush_controls(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(8, 0, 8, 0)
        row.addWidget(QLabel("Brush"))
        self.brush_slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=1000)
        self.brush_slider.setFixedWidth(150)
        self.brush_slider.setToolTip("Brush size ([ and ])")
        self.brush_spin = QSpinBox(minimum=1, maximum=MAX_BRUSH, suffix=" px")
        self.brush_spin.setFixedWidth(84)
        self.brush_spin.setToolTip("Brush diameter in image pixels ([ and ])")
        self.brush_slider.valueChanged.connect(
            lambda v: self.canvas.set_brush_size(round(MAX_BRUSH ** (v / 1000)))
        )
        self.brush_spin.valueChanged.connect(self.canvas.set_brush_size)
        row.addWidget(self.brush_slider)
        row.addWidget(self.brush_spin)
        box.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Preferred)
        self._show_brush_size(self.canvas.brush_size)
        return box

    def _build_docks(self) -> list[QDockWidget]:
        docks = []
        for title, name, widget, area in (
            ("Generate", "generate", _scrolling(self.prompt_panel), Qt.DockWidgetArea.RightDockWidgetArea),
            ("History", "history", self.history, Qt.DockWidgetArea.RightDockWidgetArea),
            ("Mask", "mask", _scrolling(self.mask_panel), Qt.DockWidgetArea.RightDockWidgetArea),
            ("Candidates", "candidates", self.candidates, Qt.DockWidgetArea.BottomDockWidgetArea),
        ):
            dock = QDockWidget(title, self)
            dock.setObjectName(name)
            dock.setWidget(widget)
            dock.setFeatures(
                QDockWidget.DockWidgetFeature.DockWidgetMovable
                | QDockWidget.DockWidgetFeature.DockWidgetClosable
            )
            self.addDockWidget(area, dock)
            docks.append(dock)
        self.tabifyDockWidget(docks[1], docks[2])
        docks[1].raise_()
        docks[0].setMinimumWidth(300)
        self.resizeDocks([docks[0], docks[1]], [480, 360], Qt.Orientation.Vertical)
        self.resizeDocks([docks[0]], [330], Qt.Orientation.Horizontal)
        return docks

    # -- wiring ------------------------------------------------------------------------------

    def _connect(self) -> None:
        m = self.session_model
        m.sessionReplaced.connect(self._on_session_replaced)
        m.canvasResized.connect(self._on_session_replaced)
        m.maskChanged.connect(lambda _box: self._ready_timer.start())
        for signal in (m.historyChanged, m.savedChanged, m.runChanged, m.imageChanged):
            signal.connect(self._update_title)
            signal.connect(self._update_undo_actions)
        self.canvas.maskEdited.connect(lambda patch, text: self.session_model.push_mask_patch(patch, text))
        self.canvas.sketchEdited.connect(self.session_model.push_sketch_change)
        self.colour_button.colourChosen.connect(self.canvas.set_colour)
        self.canvas.colourChanged.connect(self.colour_button.show_colour)
        self.session_model.sketchChanged.connect(lambda _box: self._show_sketch_controls())
        self.generation.applied.connect(self.recovery.saved_now)
        self.generation.needFiles.connect(self.backends.offer_download)
        self.canvas.extendRequested.connect(self._extend_by_drag)
        self.canvas.wandClicked.connect(self.mask_panel.wand)
        self.mask_panel.hardness.valueChanged.connect(lambda v: self.canvas.set_brush_hardness(v / 100))
        self.canvas.set_brush_hardness(self.mask_panel.hardness.value() / 100)
        self.status.messageChanged.connect(self.status.setToolTip)  # a cut-off message, whole on hover
        self.history.useSettingsRequested.connect(self.reuse.use_settings)
        for signal in (self.service.backendReady, self.service.backendFailed):
            signal.connect(lambda *_: self._update_ready())
        self.candidates.compareToggled.connect(self.canvas.set_comparing)
        self.canvas.comparingChanged.connect(self._show_comparing)
        self._compare_keys = CompareKeyFilter(
            self,
            active=lambda: self.canvas.preview_showing or self.canvas.comparing,
            compare=self.canvas.set_comparing,
        )
        QApplication.instance().installEventFilter(self._compare_keys)
        self.canvas.brushSizeChanged.connect(self._show_brush_size)
        self.canvas.zoomChanged.connect(self.status.set_zoom)
        self.canvas.openRequested.connect(self.files.open_dialog)
        for source in (self.generation.message, self.files.message, self.reuse.message):
            source.connect(lambda text: self.status.showMessage(text, 8000))
        self.generation.runningChanged.connect(lambda _r: self._update_ready())
        self.status.downloadRequested.connect(self.backends.show_download_dialog)
        self.actions_.tools[self.canvas.tool].setChecked(True)

    def _on_session_replaced(self) -> None:
        doc = self.session_model.document
        session = self.session_model.session
        if session is not None and session.prompt:
            self.prompt_panel.prompt.setPlainText(session.prompt)
        if doc is not None:
            self.canvas.set_brush_size(brush_for(doc.width, doc.height, self.canvas.brush_size))
        for action in self.actions_.document_actions:
            action.setEnabled(doc is not None)
        self.status.set_picture(doc.width if doc else None, doc.height if doc else None)
        thumbnail = QIcon(to_pixmap(original_thumbnail(doc))) if doc is not None else None
        self.history.set_original_thumbnail(thumbnail)
        self.status.set_zoom(self.canvas.zoom)
        self._update_title()
        self._update_undo_actions()
        self._show_sketch_controls()
        self._update_ready()

    def _show_sketch_controls(self) -> None:
        doc = self.session_model.document
        self.prompt_panel.set_sketching(doc is not None and doc.sketch is not None and not doc.sketch.empty)

    def _update_undo_actions(self, *_: object) -> None:
        session = self.session_model.session
        idle = session is not None and (session.run is None or not session.run.running)
        for action, possible, label, name in (
            (
                self.actions_.undo,
                session and session.history.can_undo,
                session and session.history.undo_label,
                "Undo",
            ),
            (
                self.actions_.redo,
                session and session.history.can_redo,
                session and session.history.redo_label,
                "Redo",
            ),
        ):
            action.setEnabled(bool(idle and possible))
            action.setText(f"&{name} {label}" if label else f"&{name}")

    def _show_comparing(self, comparing: bool) -> None:
        button = self.candidates.compare_button
        button.blockSignals(True)
        button.setChecked(comparing)
        button.blockSignals(False)

    def undo(self) -> None:
        if self.session_model.session is not None:
            self.session_model.session.undo()

    def redo(self) -> None:
        if self.session_model.session is not None:
            self.session_model.session.redo()

    def _update_title(self, *_: object) -> None:
        doc = self.session_model.document
        self.setWindowTitle(f"{doc.title}[*] — GLIDE Studio" if doc else "GLIDE Studio")
        self.setWindowModified(bool(doc and doc.modified))

    def _update_ready(self) -> None:
        doc = self.session_model.document
        running = self.generation.running
        reason = ""
        if doc is None:
            reason = "Open a photo to start (Ctrl+O, drop a file, or paste)."
        elif doc.mask_box() is None:
            reason = "Paint over the part to change (brush B, rectangle R, lasso L)."
        elif self.service.info is None and self.backends.unreachable:
            reason = "The server cannot be reached: Reconnect (status bar), or choose another in Models."
        elif self.service.info is None:
            reason = "No model is ready yet: wait for it to load, or choose one in the Models menu."
        self.prompt_panel.set_ready(not reason and not running, reason)
        self.actions_.generate.setEnabled(not reason and not running)
        self.actions_.cancel.setEnabled(running)

    def _show_brush_size(self, size: int) -> None:
        for widget in (self.brush_slider, self.brush_spin):
            widget.blockSignals(True)
        self.brush_slider.setValue(round(1000 * math.log(max(size, 1)) / math.log(MAX_BRUSH)))
        self.brush_spin.setValue(size)
        for widget in (self.brush_slider, self.brush_spin):
            widget.blockSignals(False)

    # -- commands ----------------------------------------------------------------------------
    def set_tool(self, tool: Tool) -> None:
        self.canvas.set_tool(tool)
        self.actions_.tools[tool].setChecked(True)

    def select_all(self) -> None:
        if self.session_model.session is not None:
            self.session_model.session.fill_mask(True)

    def clear_mask(self) -> None:
        if self.session_model.session is not None:
            self.session_model.session.fill_mask(False)

    def invert_mask(self) -> None:
        if self.session_model.session is not None:
            self.session_model.session.invert_mask()

    def extend_canvas(self) -> None:
        """Grow the canvas (undoable) and, if asked, fill the new area at once."""
        session = self.session_model.session
        if session is None:
            return
        dialog = ExtendDialog(self)
        if not dialog.exec():
            return
        try:
            session.extend_canvas(**dialog.values())
        except (ValueError, SessionError) as exc:
            show_error(self, "Cannot extend the canvas", str(exc))
            return
        self.status.showMessage("Canvas extended; the new area is masked. Ctrl+Z undoes it.", 8000)
        if dialog.fill.isChecked():
            self.generation.generate()  # right after an extension, Generate fills the new area

    def _extend_by_drag(self, sides: dict[str, int]) -> None:
        session = self.session_model.session
        if session is None:
            return
        try:
            session.extend_canvas(**sides)
        except (ValueError, SessionError) as exc:
            show_error(self, "Cannot extend the canvas", str(exc))
            return
        self.status.showMessage("Canvas extended; Generate fills the new area (Ctrl+Z undoes it).", 10000)

    def show_shortcuts(self) -> None:
        show_info(self, "Keyboard shortcuts", SHORTCUTS)

    # -- window events -----------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        mime = event.mimeData()
        if mime.hasUrls() or mime.hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        event.acceptProposedAction()
        self.files.open_mime(event.mimeData(), "drop")

    def _restore(self) -> None:
        geometry, state = self.settings.geometry(), self.settings.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self._fit_to_screen(1440, 900)
        if state is not None:
            self.restoreState(state)

    def _fit_to_screen(self, width: int, height: int) -> None:
        """The preferred size, shrunk to the screen's free area and centred on it."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            self.resize(width, height)
            return
        free = screen.availableGeometry()
        size = QSize(min(width, free.width() * 95 // 100), min(height, free.height() * 92 // 100))
        self.resize(size)
        self.move(free.center() - QPoint(size.width() // 2, size.height() // 2))

    def save_settings(self) -> None:
        self.settings.save_window(self.saveGeometry(), self.saveState())
        self.settings.brush_size = self.canvas.brush_size
        self.settings.set_generation(self.prompt_panel.values())
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Ask about work that would be lost, then stop any run without blocking the interface.

        The window hides at once; it closes for real when the model thread has
        stopped, or after a second at most, so a stuck step cannot hang the exit.
        """
        if self._closing:
            if self._closing == "done":
                event.accept()
            else:
                event.ignore()  # a second request while stopping: the exit is already on its way
            return
        if not self.files.maybe_save():
            event.ignore()
            return
        self._closing = "stopping"
        self.save_settings()
        self.recovery.clean_exit()
        self.generation.shutdown()
        if self.service.wait_stopped(IDLE_STOP_MS):  # an idle model thread ends at once
            self._closing = "done"
            event.accept()
            return
        event.ignore()
        self.hide()
        self.service.stopped.connect(self._finish_close)
        QTimer.singleShot(STOP_WAIT_MS, self._finish_close)

    def _finish_close(self) -> None:
        """The model thread stopped (or took too long): leave; ``run_window`` ends the process."""
        if self._closing != "stopping":
            return
        self._closing = "done"
        self.close()
        QApplication.quit()


def _scrolling(panel: QWidget) -> QScrollArea:
    """A side panel that scrolls when the window is too small for it (nothing out of reach)."""
    area = QScrollArea()
    area.setWidget(panel)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return area
