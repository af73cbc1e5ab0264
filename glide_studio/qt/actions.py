"""Every command of the window as a QAction: text, icon, shortcut, and a tooltip naming the shortcut."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QWidget

from .icons import icon
from .mask_tools import Tool

__all__ = ["ActionHandlers", "Actions", "create_actions"]

Handler = Callable[[], object]


@dataclass(frozen=True, kw_only=True)
class ActionHandlers:
    """What each command does: the window hands in these callables, not itself."""

    new: Handler
    open: Handler
    paste: Handler
    save: Handler
    save_as: Handler
    save_project: Handler
    export: Handler
    quit: Handler
    undo: Handler
    redo: Handler
    select_all: Handler
    clear_mask: Handler
    invert_mask: Handler
    zoom_by: Callable[[float], object]
    zoom_fit: Handler
    zoom_actual: Handler
    generate: Handler
    cancel: Handler
    apply: Handler
    discard: Handler
    random_seed: Handler
    grow_brush: Callable[[int], object]
    download: Handler
    reload_models: Handler
    backend: Handler
    extend_canvas: Handler
    shortcuts_help: Handler
    set_tool: Callable[[Tool], object]
    select_candidate: Callable[[int], object]


def make_action(
    parent: QWidget,
    text: str,
    slot: Callable[[], object] | None = None,
    *,
    icon_name: str | None = None,
    shortcuts: tuple[str | QKeySequence.StandardKey, ...] = (),
    tip: str = "",
    checkable: bool = False,
) -> QAction:
    action = QAction(text, parent)
    if icon_name:
        action.setIcon(icon(icon_name))
    keys: list[QKeySequence] = []
    for s in shortcuts:
        keys += QKeySequence.keyBindings(s) if isinstance(s, QKeySequence.StandardKey) else [QKeySequence(s)]
    if keys:
        action.setShortcuts(keys)
    plain = text.replace("&", "").rstrip("…")
    label = tip or plain
    if keys:
        label += f" ({keys[0].toString(QKeySequence.SequenceFormat.NativeText)})"
    action.setToolTip(label)
    action.setStatusTip(tip or plain)
    action.setCheckable(checkable)
    if slot is not None:
        action.triggered.connect(lambda *_: slot())
    parent.addAction(action)
    return action


@dataclass
class Actions:
    new: QAction
    open: QAction
    paste: QAction
    save: QAction
    save_as: QAction
    save_project: QAction
    export: QAction
    quit: QAction
    undo: QAction
    redo: QAction
    select_all: QAction
    clear_mask: QAction
    invert_mask: QAction
    zoom_in: QAction
    zoom_out: QAction
    zoom_fit: QAction
    zoom_actual: QAction
    generate: QAction
    cancel: QAction
    apply: QAction
    discard: QAction
    random_seed: QAction
    brush_smaller: QAction
    brush_larger: QAction
    download: QAction
    reload_models: QAction
    backend: QAction
    extend_canvas: QAction
    shortcuts_help: QAction
    tools: dict[Tool, QAction] = field(default_factory=dict)
    candidate_keys: list[QAction] = field(default_factory=list)

    @property
    def document_actions(self) -> list[QAction]:
        """Enabled only while a document is open."""
        return [
            self.save,
            self.save_as,
            self.save_project,
            self.export,
            self.extend_canvas,
            self.select_all,
            self.clear_mask,
            self.invert_mask,
            self.zoom_in,
            self.zoom_out,
            self.zoom_fit,
            self.zoom_actual,
            self.brush_smaller,
            self.brush_larger,
        ]


def _specs(h: ActionHandlers) -> dict[str, tuple[str, Handler, str | None, tuple[str, ...], str]]:
    """name: (menu text, slot, icon, shortcuts, tooltip)."""
    return {
        "new": ("&New…", h.new, None, ("Ctrl+N",), "A blank canvas to draw from a prompt"),
        "open": ("&Open…", h.open, "open", ("Ctrl+O",), "Open a picture or a project"),
        "paste": ("&Paste Image", h.paste, None, ("Ctrl+V",), "Open the image on the clipboard"),
        "save": ("&Save", h.save, "save", ("Ctrl+S",), "Save as PNG with the edit parameters"),
        "save_as": ("Save &As…", h.save_as, None, ("Ctrl+Shift+S",), ""),
        "save_project": (
            "Save &Project…",
            h.save_project,
            None,
            ("Ctrl+Alt+S",),
            "Save everything (edits with undo, mask, prompt, candidates) in a .glide project",
        ),
        "export": ("&Export…", h.export, None, ("Ctrl+E",), "Export a JPEG or WebP copy"),
        "quit": ("&Quit", h.quit, None, ("Ctrl+Q",), ""),
        "select_all": ("Select &All", h.select_all, "select-all", ("Ctrl+A",), "Mask the whole picture"),
        "clear_mask": ("&Clear Mask", h.clear_mask, "clear", ("Ctrl+Shift+A",), "Clear the mask"),
        "invert_mask": ("&Invert Mask", h.invert_mask, "invert", ("Ctrl+I",), "Invert the mask"),
        "zoom_in": ("Zoom &In", lambda: h.zoom_by(1.25), "zoom-in", ("+", "=", "Ctrl++"), ""),
        "zoom_out": ("Zoom &Out", lambda: h.zoom_by(0.8), "zoom-out", ("-", "Ctrl+-"), ""),
        "zoom_fit": ("&Fit to Window", h.zoom_fit, "zoom-fit", ("0", "Ctrl+0"), ""),
        "zoom_actual": ("&Actual Pixels", h.zoom_actual, "zoom-actual", ("Ctrl+1",), "Zoom to 100 %"),
        "generate": ("&Generate", h.generate, "generate", ("Ctrl+Return", "Ctrl+Enter"), ""),
        "cancel": ("&Cancel", h.cancel, "cancel", ("Esc",), "Cancel the run after the current step"),
        "apply": ("&Apply Candidate", h.apply, "apply", ("Ctrl+Shift+Return",), ""),
        "discard": ("&Discard Candidates", h.discard, "discard", ("Ctrl+Backspace",), ""),
        "random_seed": ("&Random Seed", h.random_seed, "dice", ("Ctrl+R",), ""),
        "brush_smaller": ("Smaller Brush", lambda: h.grow_brush(-1), None, ("[",), ""),
        "brush_larger": ("Larger Brush", lambda: h.grow_brush(1), None, ("]",), ""),
        "download": ("&Download GLIDE Weights…", h.download, None, (), ""),
        "reload_models": ("&Reload Models", h.reload_models, None, (), "Load the models again"),
        "extend_canvas": (
            "&Extend Canvas…",
            h.extend_canvas,
            None,
            ("Ctrl+Alt+E",),
            "Grow the picture on any side and fill the new area (outpainting)",
        ),
        "backend": (
            "&Backend…",
            h.backend,
            None,
            (),
            "Run the models on this computer or on a server",
        ),
        "shortcuts_help": ("&Keyboard Shortcuts", h.shortcuts_help, None, ("F1",), ""),
    }


TOOL_TIPS = {
    Tool.BRUSH: (
        "B",
        "Brush: paint the region to regenerate (right button erases); a pixel is in the mask or not, "
        "so for a soft edge set Soft edge in the Mask panel",
    ),
    Tool.ERASER: ("E", "Eraser: remove from the mask (right button paints)"),
    Tool.RECTANGLE: ("R", "Rectangle: drag to mask a box (right button subtracts)"),
    Tool.LASSO: ("L", "Lasso: draw around an area to mask it (right button subtracts)"),
    Tool.COLOUR: ("P", "Colour brush: paint colours for a sketch-guided edit (Alt+click picks a colour)"),
    Tool.WAND: ("W", "Magic wand: mask by colour (Shift adds, Alt subtracts; tolerance in the Mask panel)"),
}


def _undo_redo(parent: QWidget, h: ActionHandlers) -> tuple[QAction, QAction]:
    undo = make_action(
        parent, "&Undo", h.undo, icon_name="undo", shortcuts=("Ctrl+Z",), tip="Undo the last stroke or edit"
    )
    redo = make_action(
        parent,
        "&Redo",
        h.redo,
        icon_name="redo",
        shortcuts=("Ctrl+Shift+Z", "Ctrl+Y"),
        tip="Redo what was undone",
    )
    return undo, redo


def create_actions(parent: QWidget, handlers: ActionHandlers) -> Actions:
    """Every action, added to ``parent`` (so its shortcut works anywhere in it)."""
    made = {
        name: make_action(parent, text, slot, icon_name=icon_name, shortcuts=keys, tip=tip)
        for name, (text, slot, icon_name, keys, tip) in _specs(handlers).items()
    }
    made["undo"], made["redo"] = _undo_redo(parent, handlers)
    actions = Actions(**made)
    group = QActionGroup(parent)
    for tool, (key, tip) in TOOL_TIPS.items():
        action = make_action(
            parent,
            tool.label,
            lambda t=tool: handlers.set_tool(t),
            icon_name=tool.value,
            shortcuts=(key,),
            tip=tip,
            checkable=True,
        )
        group.addAction(action)
        actions.tools[tool] = action
    for k in range(9):
        select = make_action(
            parent, f"Candidate {k + 1}", lambda k=k: handlers.select_candidate(k), shortcuts=(str(k + 1),)
        )
        actions.candidate_keys.append(select)
    return actions
