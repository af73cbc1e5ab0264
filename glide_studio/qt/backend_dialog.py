"""Models → Backend…: run the models on this computer or on a GLIDE Studio server.

A server is started with ``glide-studio serve`` (Ray Serve, one GPU box or a
cluster). Everything else in the window stays the same: live previews,
candidates, cancel and history come through the same events.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from .settings import BackendChoice

__all__ = ["BackendDialog"]


class BackendDialog(QDialog):
    def __init__(self, backend: BackendChoice, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Where the models run")
        self.setMinimumWidth(480)
        layout = QVBoxLayout(self)
        self.local = QRadioButton("This computer")
        self.server = QRadioButton("A GLIDE Studio server")
        group = QButtonGroup(self)
        for button in (self.local, self.server):
            group.addButton(button)
            layout.addWidget(button)
        form = QFormLayout()
        self.url = QLineEdit(backend.url)
        self.url.setPlaceholderText("http://gpu-box:8000")
        self.token = QLineEdit(backend.token)
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("needed unless the server listens on this computer only")
        form.addRow("Address", self.url)
        form.addRow("Token", self.token)
        layout.addLayout(form)
        hint = QLabel("Start a server with <code>glide-studio serve</code> on the GPU machine.")
        hint.setObjectName("hint")
        layout.addWidget(hint)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.server.toggled.connect(self._update)
        (self.server if backend.remote else self.local).setChecked(True)
        self._update()

    def _update(self) -> None:
        for widget in (self.url, self.token):
            widget.setEnabled(self.server.isChecked())

    def backend(self) -> BackendChoice:
        if not self.server.isChecked() or not self.url.text().strip():
            return BackendChoice()
        return BackendChoice(url=self.url.text().strip(), token=self.token.text().strip())
