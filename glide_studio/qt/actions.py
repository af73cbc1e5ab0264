"""Every command of the window as a QAction: text, icon, shortcut, and a tooltip naming the shortcut."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QWidget

from .icons import icon
from .mask_tools import Tool

if TYPE_CHECKING:
    from .main_window import MainWindow

__all__ = ["Actions", "create_actions"]


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


def _specs(w: MainWindow) -> dict[str, tuple[str, Callable[[], object], str | None, tuple[str, ...], str]]:
    """name: (menu text, slot, icon, shortcuts, tooltip)."""
    files, gen, canvas = w.files, w.generation, w.canvas
    return {
        "new": ("&New…", files.new_canvas, None, ("Ctrl+N",), "A blank canvas to draw from a prompt"),
        "open": ("&Open…", files.open_dialog, "open", ("Ctrl+O",), "Open a picture or a project"),
        "paste": ("&Paste Image", files.paste, None, ("Ctrl+V",), "Open the image on the clipboard"),
        "save": ("&Save", files.save, "save", ("Ctrl+S",), "Save as PNG with the edit parameters"),
        "save_as": ("Save &As…", files.save_as, None, ("Ctrl+Shift+S",), ""),
        "save_project": (
            "Save &Project…",
            files.save_project,
            None,
            ("Ctrl+Alt+S",),
            "Save everything (edits with undo, mask, prompt, candidates) in a .glide project",
        ),
        "export": ("&Export…", files.export, None, ("Ctrl+E",), "Export a JPEG or WebP copy"),
        "quit": ("&Quit", w.close, None, ("Ctrl+Q",), ""),
        "select_all": ("Select &All", w.select_all, "select-all", ("Ctrl+A",), "Mask the whole picture"),
        "clear_mask": ("&Clear Mask", w.clear_mask, "clear", ("Ctrl+Shift+A",), "Clear the mask"),
        "invert_mask": ("&Invert Mask", w.invert_mask, "invert", ("Ctrl+I",), "Invert the mask"),
        "zoom_in": ("Zoom &In", lambda: canvas.zoom_by(1.25), "zoom-in", ("+", "=", "Ctrl++"), ""),
        "zoom_out": ("Zoom &Out", lambda: canvas.zoom_by(0.8), "zoom-out", ("-", "Ctrl+-"), ""),
        "zoom_fit": ("&Fit to Window", canvas.fit_to_window, "zoom-fit", ("0", "Ctrl+0"), ""),
        "zoom_actual": ("&Actual Pixels", canvas.actual_size, "zoom-actual", ("Ctrl+1",), "Zoom to 100 %"),
        "generate": ("&Generate", gen.generate, "generate", ("Ctrl+Return", "Ctrl+Enter"), ""),
        "cancel": ("&Cancel", gen.cancel, "cancel", ("Esc",), "Cancel the run after the current step"),
        "apply": ("&Apply Candidate", gen.apply, "apply", ("Ctrl+Shift+Return",), ""),
        "discard": ("&Discard Candidates", gen.discard, "discard", ("Ctrl+Backspace",), ""),
        "random_seed": ("&Random Seed", w.prompt_panel.randomize_seed, "dice", ("Ctrl+R",), ""),
        "brush_smaller": ("Smaller Brush", lambda: canvas.grow_brush(-1), None, ("[",), ""),
        "brush_larger": ("Larger Brush", lambda: canvas.grow_brush(1), None, ("]",), ""),
        "download": ("&Download GLIDE Weights…", w.models.show_download_dialog, None, (), ""),
        "reload_models": ("&Reload Models", w.models.reload_models, None, (), "Load the models again"),
        "extend_canvas": (
            "&Extend Canvas…",
            w.extend_canvas,
            None,
            ("Ctrl+Alt+E",),
            "Grow the picture on any side and fill the new area (outpainting)",
        ),
        "backend": (
            "&Backend…",
            w.models.choose_backend,
            None,
            (),
            "Run the models on this computer or on a server",
        ),
        "shortcuts_help": ("&Keyboard Shortcuts", w.show_shortcuts, None, ("F1",), ""),
    }


TOOL_TIPS = {
    Tool.BRUSH: ("B", "Brush: paint the region to regenerate (right button erases)"),
    Tool.ERASER: ("E", "Eraser: remove from the mask (right button paints)"),
    Tool.RECTANGLE: ("R", "Rectangle: drag to mask a box (right button subtracts)"),
    Tool.LASSO: ("L", "Lasso: draw around an area to mask it (right button subtracts)"),
    Tool.COLOUR: ("P", "Colour brush: paint colours for a sketch-guided edit (Alt+click picks a colour)"),
}


def _undo_redo(w: MainWindow) -> tuple[QAction, QAction]:
    undo = make_action(
        w, "&Undo", w.undo, icon_name="undo", shortcuts=("Ctrl+Z",), tip="Undo the last stroke or edit"
    )
    redo = make_action(
        w, "&Redo", w.redo, icon_name="redo", shortcuts=("Ctrl+Shift+Z", "Ctrl+Y"), tip="Redo what was undone"
    )
    return undo, redo


def create_actions(w: MainWindow) -> Actions:
    made = {
        name: make_action(w, text, slot, icon_name=icon_name, shortcuts=keys, tip=tip)
        for name, (text, slot, icon_name, keys, tip) in _specs(w).items()
    }
    made["undo"], made["redo"] = _undo_redo(w)
    actions = Actions(**made)
    group = QActionGroup(w)
    for tool, (key, tip) in TOOL_TIPS.items():
        action = make_action(
            w,
            tool.label,
            lambda t=tool: w.set_tool(t),
            icon_name=tool.value,
            shortcuts=(key,),
            tip=tip,
            checkable=True,
        )
        group.addAction(action)
        actions.tools[tool] = action
    for k in range(9):
        select = make_action(
            w, f"Candidate {k + 1}", lambda k=k: w.candidates.select(k), shortcuts=(str(k + 1),)
        )
        actions.candidate_keys.append(select)
    return actions
