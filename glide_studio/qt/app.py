"""QApplication setup: names, the dark theme, the icon, and starting the window.

A neutral dark grey keeps colours in the photo honest (the eye adapts to
bright or tinted surroundings); one blue accent marks the primary action.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from PySide6.QtCore import QSettings
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from .icons import app_icon
from .settings import Settings
from .worker import BackendFactory

__all__ = ["STYLE_SHEET", "apply_theme", "create_application", "run_window"]

ORGANIZATION = "GLIDE Studio"
APPLICATION = "GLIDE Studio"

STYLE_SHEET = """
QMainWindow::separator { background: #1b1c1f; width: 4px; height: 4px; }
QDockWidget { font-weight: 600; }
QDockWidget::title { background: #25272c; padding: 6px 8px; }
QToolBar { background: #25272c; border: none; spacing: 2px; padding: 3px; }
QToolBar QToolButton { padding: 4px; border-radius: 5px; }
QToolBar QToolButton:hover { background: #34373e; }
QToolBar QToolButton:checked { background: #3d4a6b; }
QStatusBar { background: #25272c; color: #a9adb8; }
QStatusBar::item { border: none; }
QPlainTextEdit, QLineEdit, QSpinBox, QDoubleSpinBox, QComboBox {
    background: #1d1f23; border: 1px solid #3a3d45; border-radius: 5px; padding: 4px 6px;
    selection-background-color: #4a6fd1;
}
QPlainTextEdit:focus, QLineEdit:focus, QSpinBox:focus, QDoubleSpinBox:focus, QComboBox:focus {
    border-color: #6f8fe8;
}
QLineEdit[invalid="true"] { border-color: #e0604f; }
QPushButton { background: #34373e; border: 1px solid #41454e; border-radius: 6px; padding: 6px 12px; }
QPushButton:hover { background: #3d4149; }
QPushButton:pressed { background: #2c2f35; }
QPushButton:disabled { color: #6b6f79; background: #2a2c31; border-color: #30333a; }
QPushButton#primary { background: #4a6fd1; border-color: #5b7fe0; color: white; font-weight: 600; }
QPushButton#primary:hover { background: #5a7fe0; }
QPushButton#primary:disabled { background: #2b3040; border-color: #323848; color: #767d90; }
QPushButton#danger { background: #8a3a35; border-color: #a0463f; color: white; font-weight: 600; }
QPushButton#danger:hover { background: #9c443e; }
QProgressBar { background: #1d1f23; border: none; border-radius: 3px; text-align: center; }
QProgressBar::chunk { background: #5b7fe0; border-radius: 3px; }
QListWidget { background: #1d1f23; border: 1px solid #30333a; border-radius: 6px; }
QListWidget::item { border-radius: 5px; padding: 4px; }
QListWidget::item:selected { background: #2a2f3a; border: 2px solid #6f8fe8; padding: 2px; }
QListWidget::item:hover { background: #2c2f36; }
QLabel#hint { color: #8b909c; }
QLabel#caption { color: #a9adb8; font-weight: 600; }
QLabel#error { color: #f08a7a; }
QSlider::groove:horizontal { height: 4px; background: #3a3d45; border-radius: 2px; }
QSlider::handle:horizontal { background: #d6d9e0; width: 12px; margin: -5px 0; border-radius: 6px; }
QSlider::sub-page:horizontal { background: #5b7fe0; border-radius: 2px; }
QToolTip { background: #2c2f36; color: #e4e6eb; border: 1px solid #464a53; padding: 4px; }
"""


def dark_palette() -> QPalette:
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#25272c",
        QPalette.ColorRole.WindowText: "#e4e6eb",
        QPalette.ColorRole.Base: "#1d1f23",
        QPalette.ColorRole.AlternateBase: "#2a2c31",
        QPalette.ColorRole.Text: "#e4e6eb",
        QPalette.ColorRole.Button: "#34373e",
        QPalette.ColorRole.ButtonText: "#e4e6eb",
        QPalette.ColorRole.Highlight: "#4a6fd1",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: "#2c2f36",
        QPalette.ColorRole.ToolTipText: "#e4e6eb",
        QPalette.ColorRole.PlaceholderText: "#7d818c",
        QPalette.ColorRole.Link: "#8eaaff",
        QPalette.ColorRole.Mid: "#3a3d45",
        QPalette.ColorRole.Dark: "#17181b",
        QPalette.ColorRole.Light: "#41454e",
    }
    for role, color in roles.items():
        palette.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b6f79"))
    return palette


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    app.setStyleSheet(STYLE_SHEET)
    app.setWindowIcon(app_icon())


def create_application(argv: Sequence[str] | None = None) -> QApplication:
    """The QApplication (reused if one exists, as under pytest-qt), themed."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(list(argv if argv is not None else sys.argv[:1]))
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName(APPLICATION)
    apply_theme(app)
    return app


def run_window(
    factory: BackendFactory,
    *,
    image: str | Path | None = None,
    settings_file: str | Path | None = None,
    store_locator: Callable[[], Any] | None = None,
) -> NoReturn:
    """Create the app and the main window, offer to restore crashed work, open ``image`` if given,
    and run until the window closes; then end the process (this never returns).

    The process ends as soon as the model thread has stopped; a thread stuck in
    a long operation cannot keep it alive past the window's short wait.
    """
    from .main_window import MainWindow

    app = create_application()
    store = QSettings(str(settings_file), QSettings.Format.IniFormat) if settings_file else QSettings()
    window = MainWindow(settings=Settings(store), backend_factory=factory, store_locator=store_locator)
    window.show()
    restored = window.recovery.offer_restore(window.files.replace)
    if image is not None and not restored:
        window.files.open_path(Path(image))
    code = app.exec()
    # Leave at once: settings are written and the autosave removed by the window's close. A
    # normal interpreter shutdown tears down torch and Qt for another second, and a worker
    # stuck inside an operation that cannot be interrupted would otherwise keep the process.
    window.service.wait_stopped(200)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
