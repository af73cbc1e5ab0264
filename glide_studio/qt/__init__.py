"""The desktop studio (PySide6). The only package that imports Qt.

Layout: ``app`` (QApplication, theme), ``main_window`` (wiring), ``canvas`` and
``overlays`` (the picture, mask, previews), ``mask_tools`` (brush, eraser,
rectangle, lasso), ``worker`` (the model thread), ``generation`` (runs as the
user sees them), ``panels`` (prompt, candidates, history), ``file_actions``,
``session_model`` (the core editing session with signals), ``recovery``
(autosave and the restore prompt), ``settings``, ``dialogs``, ``status``,
``actions``, ``icons``, ``convert``.
"""
