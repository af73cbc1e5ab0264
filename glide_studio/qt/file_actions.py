"""Open, paste, drop, save, export, recent files, and the unsaved-changes question.

Every failure ends in a message box and leaves the open document exactly as
it was: a file is read completely before it replaces anything, and saving
writes a temporary file that is renamed only once complete.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QMimeData, QObject, Signal
from PySide6.QtGui import QAction, QGuiApplication, QImage, QUndoStack
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from ..core.editing.document import Document
from ..core.imaging.files import ImageError
from .convert import qimage_to_arrays
from .dialogs import ask_save_changes, show_error
from .document_model import DocumentModel
from .settings import Settings

__all__ = ["OPEN_FILTER", "FileActions"]

OPEN_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff *.gif);;All files (*)"
SAVE_FILTER = "PNG image, with edit parameters (*.png)"
EXPORT_FILTER = "JPEG image (*.jpg *.jpeg);;WebP image (*.webp);;PNG image (*.png)"


class FileActions(QObject):
    """File handling for one window. ``before_replace`` lets the window stop a run first."""

    documentOpened = Signal()
    message = Signal(str)

    def __init__(
        self,
        *,
        model: DocumentModel,
        stack: QUndoStack,
        settings: Settings,
        parent: QWidget,
        before_replace: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(parent)
        self._model, self._stack, self._settings, self._parent = model, stack, settings, parent
        self._before_replace = before_replace
        self.recent_menu = QMenu("Open &Recent", parent)
        self.recent_menu.aboutToShow.connect(self._fill_recent)

    # -- opening ----------------------------------------------------------------------------

    def open_dialog(self) -> bool:
        path, _ = QFileDialog.getOpenFileName(
            self._parent, "Open image", self._settings.last_folder, OPEN_FILTER
        )
        return bool(path) and self.open_path(Path(path))

    def open_path(self, path: Path) -> bool:
        """Open a file; on any problem show why and keep the current document."""
        if not self.maybe_save():
            return False
        try:
            document = Document.open(path)
        except ImageError as exc:
            show_error(self._parent, "Cannot open image", str(exc))
            return False
        except MemoryError:
            show_error(self._parent, "Cannot open image", f"{path}: not enough memory to open this image")
            return False
        self._settings.add_recent(path)
        self._settings.last_folder = str(path.resolve().parent)
        self._replace(document)
        self.message.emit(f"Opened {path.name} ({document.width}×{document.height})")
        return True

    def open_image(self, image: QImage, source: str) -> bool:
        """A picture from the clipboard or a drag: becomes an untitled document."""
        if image.isNull():
            show_error(self._parent, "Cannot paste", f"The {source} does not hold an image.")
            return False
        if not self.maybe_save():
            return False
        rgb, alpha = qimage_to_arrays(image)
        document = Document(rgb, alpha=alpha)
        document.saved_state = -1  # never saved: closing asks about it
        self._replace(document)
        self.message.emit(f"Pasted an image from the {source} ({document.width}×{document.height})")
        return True

    def paste(self) -> bool:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is not None and (mime.hasImage() or mime.hasUrls()):
            return self.open_mime(mime, "clipboard")
        show_error(
            self._parent,
            "Cannot paste",
            "The clipboard holds no image. Copy an image or an image file first.",
        )
        return False

    def open_mime(self, mime: QMimeData, source: str = "drop") -> bool:
        files = [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
        if files:
            return self.open_path(files[0])
        if mime.hasImage():
            return self.open_image(QImage(mime.imageData()), source)
        show_error(self._parent, "Cannot open", f"The {source} holds neither an image nor an image file.")
        return False

    def _replace(self, document: Document) -> None:
        self._before_replace()
        self._stack.clear()
        self._model.set_document(document)
        self._stack.setClean()
        self.documentOpened.emit()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = self._settings.recent_files()
        for path in recent:
            action = QAction(Path(path).name, self.recent_menu)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _=False, p=path: self._open_recent(p))
            self.recent_menu.addAction(action)
        if not recent:
            self.recent_menu.addAction("No recent files").setEnabled(False)

    def _open_recent(self, path: str) -> None:
        if not Path(path).is_file():
            self._settings.remove_recent(path)
            show_error(self._parent, "Cannot open image", f"{path}: the file no longer exists")
            return
        self.open_path(Path(path))

    # -- saving -----------------------------------------------------------------------------

    def save(self) -> bool:
        doc = self._model.document
        if doc is None:
            return False
        if doc.path is None or doc.path.suffix.lower() != ".png":
            return self.save_as()
        return self._write(doc, doc.path, remember=True)

    def save_as(self) -> bool:
        doc = self._model.document
        if doc is None:
            return False
        suggested = self._suggest(doc, ".png")
        path, _ = QFileDialog.getSaveFileName(self._parent, "Save image", suggested, SAVE_FILTER)
        if not path:
            return False
        target = Path(path)
        if target.suffix.lower() != ".png":
            target = target.with_name(target.name + ".png")
        return self._write(doc, target, remember=True)

    def export(self) -> bool:
        """A JPEG/WebP (or PNG) copy; the document keeps its own file and unsaved state."""
        doc = self._model.document
        if doc is None:
            return False
        path, _ = QFileDialog.getSaveFileName(
            self._parent, "Export image", self._suggest(doc, ".jpg"), EXPORT_FILTER
        )
        if not path:
            return False
        target = Path(path)
        if target.suffix.lower() not in (".jpg", ".jpeg", ".webp", ".png"):
            target = target.with_name(target.name + ".jpg")
        return self._write(doc, target, remember=False)

    def _suggest(self, doc: Document, suffix: str) -> str:
        folder = doc.path.parent if doc.path is not None else Path(self._settings.last_folder)
        stem = doc.path.stem if doc.path is not None else "untitled"
        if doc.path is not None and doc.path.suffix.lower() != suffix and suffix == ".png":
            stem += "-edited"
        return str(folder / f"{stem}{suffix}")

    def _write(self, doc: Document, path: Path, *, remember: bool) -> bool:
        try:
            doc.save(path, remember=remember)
        except (OSError, ValueError) as exc:
            show_error(self._parent, "Cannot save", f"{path}: {getattr(exc, 'strerror', None) or exc}")
            return False
        self._settings.last_folder = str(path.resolve().parent)
        if remember:
            self._settings.add_recent(path)
            self._model.mark_saved()
        self.message.emit(f"{'Saved' if remember else 'Exported'} {path}")
        return True

    def maybe_save(self) -> bool:
        """Ask before unsaved edits are lost; True when it is fine to go on."""
        doc = self._model.document
        if doc is None or not doc.modified:
            return True
        answer = ask_save_changes(self._parent, doc.title)
        if answer == "save":
            return self.save()
        return answer == "discard"
