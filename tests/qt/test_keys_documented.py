"""Every keyboard shortcut of the window is in the README's keys table and the F1 help."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QKeySequence

from glide_studio.qt.main_window import SHORTCUTS

README = Path(__file__).resolve().parents[2] / "README.md"
ALTERNATIVES = ("Ctrl+Y", "=", "Ctrl++", "Ctrl+-", "Ctrl+0")
"""Second bindings of documented keys (zoom and redo variants)."""


def _keys_table() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("| Keys | Action |")
    return text[start : text.index("\n\n", start)]


def test_every_shortcut_is_documented(window):
    table = _keys_table()
    help_text = SHORTCUTS.replace("<b>", "").replace("</b>", "")
    missing = []
    for action in window.actions():
        for sequence in action.shortcuts():
            key = sequence.toString(QKeySequence.SequenceFormat.PortableText)
            if key in ALTERNATIVES or (key.isdigit() and "1 … 9" in table and "1 … 9" in help_text):
                continue
            shown = key.replace("Return", "Enter")
            if shown not in table or shown not in help_text:
                missing.append(f"{action.text()}: {shown}")
    assert not missing, f"undocumented shortcuts: {missing}"
