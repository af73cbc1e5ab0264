"""Open, paste, drop, save, projects, export, recent files, and the "lose this work?" question.

Every failure ends in a message box and leaves the open session exactly as it
was: a file is read completely before it replaces anything, and saving writes
a temporary file that is renamed only once complete. Saving never destroys the
source: the first save of a picture opened from a file goes to Save As with a
``NAME-edited.png`` suggestion, and Save overwrites only a file this program
wrote in this session (Save As asks before replacing any existing file).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QMimeData, QObject, Signal
from PySide6.QtGui import QAction, QGuiApplication, QImage
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from ..core.editing.document import Document
from ..core.editing.project import PROJECT_SUFFIX, ProjectError, load_project, save_project
from ..core.editing.session import EditingSession
from ..core.imaging.files import ImageError
from .convert import qimage_to_arrays
from .dialogs import ask_save_changes, show_error
from .new_canvas_dialog import NewCanvasDialog
from .session_model import SessionModel
from .settings import Settings

__all__ = ["OPEN_FILTER", "FileActions"]

OPEN_FILTER = (
    "Pictures and projects (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff *.gif *.glide);;"
    "GLIDE Studio projects (*.glide);;All files (*)"
)
SAVE_FILTER = "PNG image, with edit parameters (*.png)"
PROJECT_FILTER = "GLIDE Studio project (*.glide)"
EXPORT_FILTER = "JPEG image (*.jpg *.jpeg);;WebP image (*.webp);;PNG image (*.png)"


class FileActions(QObject):
    """File handling for one window. ``before_replace`` lets the window stop a run first."""

    documentOpened = Signal()
    message = Signal(str)

    def __init__(
        self,
        *,
        model: SessionModel,
        settings: Settings,
        parent: QWidget,
        before_replace: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(parent)
        self._model, self._settings, self._parent = model, settings, parent
        self._before_replace = before_replace
        self.recent_menu = QMenu("Open &Recent", parent)
        self.recent_menu.aboutToShow.connect(self._fill_recent)

    # -- opening ----------------------------------------------------------------------------

    def open_dialog(self) -> bool:
        path, _ = QFileDialog.getOpenFileName(
            self._parent, "Open picture or project", self._settings.last_folder, OPEN_FILTER
        )
        return bool(path) and self.open_path(Path(path))

    def open_path(self, path: Path) -> bool:
        """Open a picture or a project; on any problem show why and keep the current session."""
        if not self.maybe_save():
            return False
        try:
            if path.suffix.lower() == PROJECT_SUFFIX:
                session = load_project(path)
            else:
                session = EditingSession(Document.open(path))
        except (ImageError, ProjectError) as exc:
            show_error(self._parent, f"Cannot open {_kind(path)}", str(exc))
            return False
        except MemoryError:
            show_error(self._parent, f"Cannot open {_kind(path)}", f"{path}: not enough memory to open it")
            return False
        except Exception as exc:  # a refused file always ends in a dialog, never only on stderr
            show_error(self._parent, f"Cannot open {_kind(path)}", f"{path}: cannot be opened ({exc})")
            return False
        self._settings.add_recent(path)
        self._settings.last_folder = str(path.resolve().parent)
        self.replace(session)
        doc = session.document
        note = ""
        if doc.frames > 1:
            note = f" · it has {doc.frames} frames: only the first is edited and saved"
        elif doc.earlier_edits:
            note = f" · {len(doc.earlier_edits)} earlier edit(s) recorded in it are listed in History"
        self.message.emit(f"Opened {path.name} ({doc.width}×{doc.height}){note}")
        return True

    def new_canvas(self) -> bool:
        """File → New: a blank canvas of a chosen size, masked whole."""
        dialog = NewCanvasDialog(self._parent)
        if not dialog.exec() or not self.maybe_save():
            return False
        width, height = dialog.size()
        self.replace(EditingSession(Document.blank(width, height)))
        self.message.emit(f"New {width}×{height} canvas: describe the picture and Generate.")
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
        self.replace(EditingSession(document))
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

    def replace(self, session: EditingSession) -> None:
        """Make ``session`` the open one (the caller has asked about the current one)."""
        self._before_replace()
        self._model.set_session(session)
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
            show_error(self._parent, f"Cannot open {_kind(Path(path))}", f"{path}: the file no longer exists")
            return
        self.open_path(Path(path))

    # -- saving -----------------------------------------------------------------------------

    def save(self) -> bool:
        """Save the picture; only a PNG this program wrote in this session is overwritten without asking."""
        doc = self._model.document
        if doc is None:
            return False
        if doc.project_path is not None:
            return self.save_project()  # the project is the document: Ctrl+S keeps it up to date
        if doc.path is None or not doc.owns_file or doc.path.suffix.lower() != ".png":
            return self.save_as()
        return self._write(doc, doc.path, remember=True)

    def save_as(self) -> bool:
        doc = self._model.document
        if doc is None:
            return False
        path = self._ask_path("Save picture", self._suggest(doc, ".png"), SAVE_FILTER)
        if path is None:
            return False
        target = path if path.suffix.lower() == ".png" else path.with_name(path.name + ".png")
        return self._write(doc, target, remember=True)

    def save_project(self) -> bool:
        """Everything (edits with undo, mask, prompt, candidates) in a ``.glide`` project."""
        session = self._model.session
        if session is None:
            return False
        doc = session.document
        target = doc.project_path
        if target is None:
            path = self._ask_path("Save project", self._suggest(doc, PROJECT_SUFFIX), PROJECT_FILTER)
            if path is None:
                return False
            target = (
                path if path.suffix.lower() == PROJECT_SUFFIX else path.with_name(path.name + PROJECT_SUFFIX)
            )
        try:
            save_project(session, target)
        except OSError as exc:
            show_error(self._parent, "Cannot save", f"{target}: {exc.strerror or exc}")
            return False
        doc.project_path = target
        doc.saved_state = doc.image_state
        session.mark_saved()
        self._settings.add_recent(target)
        self.message.emit(f"Saved the project {target}")
        return True

    def export(self) -> bool:
        """A JPEG/WebP (or PNG) copy; the document keeps its own file and unsaved state."""
        doc = self._model.document
        if doc is None:
            return False
        path = self._ask_path("Export picture", self._suggest(doc, ".jpg"), EXPORT_FILTER)
        if path is None:
            return False
        if path.suffix.lower() not in (".jpg", ".jpeg", ".webp", ".png"):
            path = path.with_name(path.name + ".jpg")
        return self._write(doc, path, remember=False)

    def _ask_path(self, title: str, suggested: str, filters: str) -> Path | None:
        # Qt's dialog asks before replacing an existing file.
        path, _ = QFileDialog.getSaveFileName(self._parent, title, suggested, filters)
        return Path(path) if path else None

    def _suggest(self, doc: Document, suffix: str) -> str:
        """A name from the project when there is one, else from the picture; never ``-edited-edited``."""
        source = doc.project_path or doc.path
        folder = source.parent if source is not None else Path(self._settings.last_folder)
        stem = source.stem if source is not None else "untitled"
        from_picture = source is not None and source == doc.path and not doc.owns_file
        if from_picture and suffix != PROJECT_SUFFIX and not stem.endswith("-edited"):
            stem += "-edited"
        ours = {p for p in (doc.project_path, doc.path if doc.owns_file else None) if p is not None}
        target, n = folder / f"{stem}{suffix}", 2
        while target not in ours and target.exists() and n < 1000:  # never suggest someone's file
            target, n = folder / f"{stem}-{n}{suffix}", n + 1
        return str(target)

    def _write(self, doc: Document, path: Path, *, remember: bool) -> bool:
        try:
            doc.save(path, remember=remember)
        except (OSError, ValueError) as exc:
            show_error(self._parent, "Cannot save", f"{path}: {getattr(exc, 'strerror', None) or exc}")
            return False
        self._settings.last_folder = str(path.resolve().parent)
        if remember:
            self._settings.add_recent(path)
            session = self._model.session
            if session is not None:
                session.mark_saved()
        note = ""
        if doc.dropped_text:
            keys = ", ".join(repr(k) for k in doc.dropped_text[:3]) + (
                "…" if len(doc.dropped_text) > 3 else ""
            )
            note = f" · left out {len(doc.dropped_text)} text field(s) a PNG cannot hold: {keys}"
        self.message.emit(f"{'Saved' if remember else 'Exported'} {path}{note}")
        return True

    def maybe_save(self) -> bool:
        """Ask before work would be lost; True when it is fine to go on.

        Unapplied candidates and a painted mask count as work: Save then writes
        a project, which keeps them.
        """
        session = self._model.session
        if session is None:
            return True
        masked = session.document.mask_box() is not None
        keeps_more = session.pending_candidates > 0 or masked
        if not session.modified and not keeps_more:
            return True
        what = session.unapplied_work or "a painted mask"
        answer = ask_save_changes(self._parent, session.document.title, what)
        if answer == "save":
            return self.save_project() if keeps_more else self.save()
        return answer == "discard"


def _kind(path: Path) -> str:
    return "project" if path.suffix.lower() == PROJECT_SUFFIX else "image"
