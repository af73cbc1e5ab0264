"""The picture being edited: its pixels, the painted mask and the edits applied so far.

Qt-free so that it can be tested (and scripted) without a display. The window's
undo commands call the methods here; each method that changes something
either takes or returns the compact patch that undoes it.

Image states: every distinct content of the image gets a number. Applying an
edit moves to a new number and undoing it returns to the old one, so "has
the picture changed since X" is one integer comparison (used for unsaved
changes and for candidates generated from an older picture).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..generation.request import EditRequest
from ..imaging.files import LoadedImage, load_image
from ..imaging.metadata import png_text_fields, save_image
from ..imaging.region import Box, mask_bounds, region_of_interest
from .canvas_size import MAX_SIDE, CanvasExtension, crop_to, pad_edges
from .patches import AppliedEdit, EditRecord, ImagePatch, MaskPatch, changed_box, make_thumbnail
from .sketch import SketchLayer, SketchPatch

__all__ = ["EDITS_KEY", "Document", "RecordedEdit", "read_recorded_edits"]

EDITS_KEY = "glide_studio:edits"
"""PNG text chunk holding every applied edit's parameters as a JSON list, oldest first.

Each entry is the edit's parameters (strings, for people and other tools) and,
under ``"record"``, its ``EditRecord`` (settings, compressed mask, region).
"""


@dataclass(frozen=True, eq=False)
class RecordedEdit:
    """An edit made in an earlier session, read from a file's text chunks: shown, not undoable."""

    parameters: dict[str, str]
    record: EditRecord | None

    @property
    def prompt(self) -> str:
        return self.parameters.get("prompt", "")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.parameters)
        if self.record is not None:
            out["record"] = self.record.to_json()
        return out


MAX_RECORDED_EDITS = 10_000
"""More entries than this in a file's edit list are not read (a real picture has dozens)."""


def read_recorded_edits(text: Mapping[str, str]) -> tuple[RecordedEdit, ...]:
    """The edit list of a file this program saved; damaged entries are skipped, not fatal.

    Nothing here raises: malformed JSON, deep nesting, wrong types, hostile
    records (see ``EditRecord.from_json``) all end in fewer entries, or none.
    """
    try:
        entries = json.loads(text.get(EDITS_KEY, "[]"))
    except (ValueError, TypeError, RecursionError):
        return ()
    out = []
    for entry in entries[:MAX_RECORDED_EDITS] if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        record = None
        if isinstance(entry.get("record"), dict):
            try:
                record = EditRecord.from_json(entry["record"])
            except (ValueError, RecursionError):
                record = None
        try:
            parameters = {str(k): _plain_value(v) for k, v in entry.items() if k != "record"}
        except (ValueError, RecursionError):
            continue
        out.append(RecordedEdit(parameters, record))
    return tuple(out)


def _fitting(edits: tuple[RecordedEdit, ...], width: int, height: int) -> tuple[RecordedEdit, ...]:
    """Records whose mask or sketch does not fit a picture of this size lose them (the edit stays)."""

    def fits(record: EditRecord) -> bool:
        if record.mask_box.clipped(width, height) != record.mask_box:
            return False
        if record.sketch is None:
            return True
        inner = record.region.clipped(width, height)
        return record.sketch.shape[:2] == (inner.height, inner.width)

    return tuple(e if e.record is None or fits(e.record) else RecordedEdit(e.parameters, None) for e in edits)


def _plain_value(value: object) -> str:
    """A parameter as text; nested data is refused (a parameter is a string or a number)."""
    if isinstance(value, dict | list):
        raise ValueError("a parameter holds nested data")
    return str(value)


def _thumbnail_of(image: ImagePatch) -> np.ndarray:
    """The edited region after the edit; RGBA when the picture has transparency."""
    if image.alpha_after is not None and image.alpha_after.min() < 255:
        return make_thumbnail(np.dstack([image.after, image.alpha_after]))
    return make_thumbnail(image.after)


class Document:
    """An RGB image (plus its alpha channel if the file had one), a bool mask and the edit list."""

    def __init__(
        self,
        rgb: np.ndarray,
        *,
        alpha: np.ndarray | None = None,
        path: str | Path | None = None,
        text: Mapping[str, str] | None = None,
    ) -> None:
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or 0 in rgb.shape:
            raise ValueError(f"a document needs a non-empty RGB uint8 image, got {rgb.dtype} {rgb.shape}")
        if alpha is not None and alpha.shape != rgb.shape[:2]:
            raise ValueError("the alpha channel does not match the image size")
        self._rgb = np.array(rgb, copy=True)
        self._alpha = None if alpha is None else np.array(alpha, dtype=np.uint8, copy=True)
        self._mask = np.zeros(rgb.shape[:2], dtype=bool)
        self._mask_box: Box | None = None
        self._mask_box_valid = True
        self.path = Path(path) if path is not None else None
        self.text = dict(text or {})
        self.earlier_edits = _fitting(read_recorded_edits(self.text), self.width, self.height)
        """Edits recorded in the file this document was opened from."""
        self.owns_file = False
        """True once this program wrote ``path`` in this session: only then may Save overwrite it."""
        self.icc_profile: bytes | None = None
        self.exif: bytes | None = None
        self.source16: np.ndarray | None = None
        """The 16-bit pixels of a 16-bit source, kept so that saving loses no precision."""
        self.alpha16: np.ndarray | None = None
        self.frames = 1
        self.dropped_text: tuple[str, ...] = ()
        """Text keys of the source that the last PNG save could not keep (a PNG forbids them)."""
        self._sketch: SketchLayer | None = None
        self.project_path: Path | None = None
        """The project file (``.glide``) this session was opened from or last saved to."""
        self._edits: list[AppliedEdit] = []
        self._operations: list[AppliedEdit | CanvasExtension] = []
        """Applied edits and canvas extensions, in order (projects replay them)."""
        self._state = 0
        self._next_state = 1
        self.saved_state = 0

    @classmethod
    def from_loaded(cls, loaded: LoadedImage, path: str | Path | None = None) -> Document:
        doc = cls(loaded.rgb, alpha=loaded.alpha, path=path, text=loaded.text)
        doc.icc_profile = getattr(loaded, "icc_profile", None)
        doc.exif = getattr(loaded, "exif", None)
        doc.source16 = getattr(loaded, "rgb16", None)
        doc.alpha16 = getattr(loaded, "alpha16", None)
        doc.frames = int(getattr(loaded, "frames", 1) or 1)
        return doc

    @classmethod
    def blank(cls, width: int, height: int) -> Document:
        """A new mid-grey canvas, masked whole (File → New): the prompt draws all of it."""
        if not (16 <= width <= 16384 and 16 <= height <= 16384):
            raise ValueError(f"a new canvas must be 16 to 16384 pixels a side, got {width}×{height}")
        doc = cls(np.full((height, width, 3), 127, np.uint8))
        doc.paint(doc.bounds, np.ones((height, width), bool), True)
        doc.saved_state = -1  # never saved: closing asks about it
        return doc

    @classmethod
    def open(cls, path: str | Path) -> Document:
        """Read a file; raises ``ImageError`` with a message for the user."""
        return cls.from_loaded(load_image(path), path)

    # -- properties -------------------------------------------------------------------

    @property
    def rgb(self) -> np.ndarray:
        """The current pixels; read-only view (change them through edits)."""
        view = self._rgb.view()
        view.setflags(write=False)
        return view

    @property
    def alpha(self) -> np.ndarray | None:
        return self._alpha

    @property
    def mask(self) -> np.ndarray:
        """The mask, read-only view (True = regenerate); change it through ``paint`` and patches."""
        view = self._mask.view()
        view.setflags(write=False)
        return view

    @property
    def width(self) -> int:
        return int(self._rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self._rgb.shape[0])

    @property
    def bounds(self) -> Box:
        return Box(0, 0, self.width, self.height)

    @property
    def title(self) -> str:
        """The project's name once the work lives in a ``.glide``, else the picture's."""
        if self.project_path is not None:
            return self.project_path.name
        return self.path.name if self.path is not None else "Untitled"

    @property
    def edits(self) -> tuple[AppliedEdit, ...]:
        return tuple(self._edits)

    @property
    def operations(self) -> tuple[AppliedEdit | CanvasExtension, ...]:
        return tuple(self._operations)

    @property
    def image_state(self) -> int:
        return self._state

    @property
    def modified(self) -> bool:
        return self._state != self.saved_state

    # -- mask ---------------------------------------------------------------------------

    def mask_box(self) -> Box | None:
        """Bounds of the painted mask (cached; recomputed after a change)."""
        if not self._mask_box_valid:
            self._mask_box = mask_bounds(self._mask)
            self._mask_box_valid = True
        return self._mask_box

    def region_of_interest(self) -> Box | None:
        """The square the model will see for the current mask, or None when nothing is painted."""
        box = self.mask_box()
        return None if box is None else region_of_interest(box, self.width, self.height)

    def _mask_changed(self) -> None:
        self._mask_box_valid = False

    def paint(self, box: Box, where: np.ndarray, value: bool) -> None:
        """Set the mask to ``value`` where ``where`` (the pixels of ``box``) is True."""
        box = box.clipped(self.width, self.height)
        if box.width <= 0 or box.height <= 0:
            return
        self._mask[box.slices][where[: box.height, : box.width]] = value
        self._mask_changed()

    def mask_snapshot(self) -> np.ndarray:
        """A copy of the whole mask, taken before a stroke so its undo patch can be cut out after."""
        return self._mask.copy()

    def capture_mask_change(self, snapshot: np.ndarray, box: Box) -> MaskPatch | None:
        """The patch from ``snapshot`` to the current mask within ``box`` (None if nothing changed)."""
        box = box.clipped(self.width, self.height)
        if box.width <= 0 or box.height <= 0:
            return None
        return MaskPatch.capture(snapshot[box.slices], self._mask[box.slices], box)

    def apply_mask_patch(self, patch: MaskPatch, *, forward: bool = True) -> None:
        """Redo (``forward``) or undo a mask patch."""
        self._mask[patch.box.slices] = patch.after if forward else patch.before
        self._mask_changed()

    def fill_patch(self, value: bool) -> MaskPatch | None:
        """The patch that selects all (True) or clears (False) the mask, not yet applied; None if no-op."""
        box = self.bounds if value else self.mask_box()
        if box is None:
            return None
        before = self._mask[box.slices]
        return MaskPatch.capture(before, np.full(before.shape, value), box)

    def invert_mask(self) -> None:
        """Its own inverse, so its undo step needs no data."""
        np.logical_not(self._mask, out=self._mask)
        self._mask_changed()

    # -- sketch -------------------------------------------------------------------------

    @property
    def sketch(self) -> SketchLayer | None:
        """The colours painted for a sketch-guided edit (None until the first colour stroke)."""
        return self._sketch

    def sketch_layer(self) -> SketchLayer:
        if self._sketch is None:
            self._sketch = SketchLayer(self.width, self.height)
        return self._sketch

    def sketch_image(self) -> np.ndarray | None:
        """The picture with the sketch painted on it, or None when nothing is sketched."""
        if self._sketch is None or self._sketch.empty:
            return None
        return self._sketch.over(self._rgb)

    def clear_sketch_patch(self) -> SketchPatch | None:
        """The patch that empties the sketch layer (not yet applied); None when it is empty."""
        box = self._sketch.bounds if self._sketch is not None else None
        if box is None:
            return None
        assert self._sketch is not None
        before = self._sketch.region(box)
        after = (np.zeros_like(before[0]), np.zeros_like(before[1]))
        return SketchPatch(box, before, after)

    def apply_sketch_patch(self, patch: SketchPatch, *, forward: bool = True) -> None:
        self.sketch_layer().put(patch.box, patch.after if forward else patch.before)

    # -- image --------------------------------------------------------------------------

    def request(self, prompt: str, **settings: object) -> EditRequest:
        """An ``EditRequest`` for the current image and mask, with the sketch if one is painted
        (raises ``RequestError``)."""
        sketch = self.sketch_image()
        if sketch is not None and "sketch" not in settings:
            settings["sketch"] = sketch
        return EditRequest(image=self._rgb, mask=self._mask, prompt=prompt, **settings)  # type: ignore[arg-type]

    def make_edit(
        self,
        pixels: np.ndarray,
        box: Box,
        parameters: Mapping[str, str],
        *,
        record: EditRecord | None = None,
        alpha: np.ndarray | None = None,
    ) -> AppliedEdit | None:
        """Prepare (not apply) an edit that puts ``pixels`` (the pixels of ``box``) into the image.

        ``alpha``: the box's new alpha, for a picture that has an alpha channel
        (unchanged when None). Only the box is kept, shrunk to the pixels that
        really differ. The edit also clears the mask, so that the next region
        starts from nothing. None if it would change no pixel.
        """
        pixels = np.asarray(pixels)
        if pixels.shape[:2] != (box.height, box.width) or box.clipped(self.width, self.height) != box:
            raise ValueError(f"the pixels ({pixels.shape[1::-1]}) do not fill {box} inside the picture")
        before = self._rgb[box.slices]
        new_alpha = None
        if self._alpha is not None and alpha is not None:
            new_alpha = np.asarray(alpha, dtype=np.uint8)
            before = np.dstack([before, self._alpha[box.slices]])
            pixels = np.dstack([pixels, new_alpha])
        changed = changed_box(before, pixels, box) if box.width > 0 and box.height > 0 else None
        if changed is None:
            return None
        inner = (
            slice(changed.top - box.top, changed.bottom - box.top),
            slice(changed.left - box.left, changed.right - box.left),
        )
        keep_alpha = self._alpha is not None
        image = ImagePatch(
            changed,
            self._rgb[changed.slices].copy(),
            np.array(pixels[inner][..., :3], dtype=np.uint8, copy=True),
            before_state=self._state,
            after_state=self._next_state,
            alpha_before=self._alpha[changed.slices].copy() if keep_alpha else None,
            alpha_after=(
                np.array(pixels[inner][..., 3], dtype=np.uint8, copy=True)
                if new_alpha is not None
                else (self._alpha[changed.slices].copy() if keep_alpha else None)
            ),
        )
        self._next_state += 1
        mask_box = self.mask_box()
        mask = None
        if mask_box is not None:
            mask = MaskPatch.capture(
                self._mask[mask_box.slices], np.zeros_like(self._mask[mask_box.slices]), mask_box
            )
        return AppliedEdit(dict(parameters), image, mask, _thumbnail_of(image), record)

    def restored_edit(
        self,
        box: Box,
        before: np.ndarray,
        after: np.ndarray,
        parameters: Mapping[str, str],
        *,
        cleared: MaskPatch | None,
        record: EditRecord | None,
        alpha: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> AppliedEdit:
        """An edit read back from a project file, to be applied on top of the current state
        (``alpha``: the box's alpha before and after, for a picture with an alpha channel)."""
        if alpha is None and self._alpha is not None:
            alpha = (self._alpha[box.slices].copy(), self._alpha[box.slices].copy())
        image = ImagePatch(
            box,
            before,
            after,
            before_state=self._state,
            after_state=self._next_state,
            alpha_before=alpha[0] if alpha is not None else None,
            alpha_after=alpha[1] if alpha is not None else None,
        )
        self._next_state += 1
        return AppliedEdit(dict(parameters), image, cleared, _thumbnail_of(image), record)

    def apply_edit(self, edit: AppliedEdit) -> None:
        self._rgb[edit.image.box.slices] = edit.image.after
        if self._alpha is not None and edit.image.alpha_after is not None:
            self._alpha[edit.image.box.slices] = edit.image.alpha_after
        if edit.mask is not None:
            self.apply_mask_patch(edit.mask, forward=True)
        self._edits.append(edit)
        self._operations.append(edit)
        self._state = edit.image.after_state

    # -- canvas size ----------------------------------------------------------------------

    def extension(self, left: int, top: int, right: int, bottom: int) -> CanvasExtension:
        """A canvas extension (not yet applied); raises ``ValueError`` for an impossible one."""
        sides = (left, top, right, bottom)
        if any(not isinstance(v, int) or v < 0 for v in sides) or not any(sides):
            raise ValueError(
                "extend the canvas by whole, non-negative numbers of pixels on at least one side"
            )
        width, height = self.width + left + right, self.height + top + bottom
        if max(width, height) > MAX_SIDE:
            raise ValueError(f"the canvas would be {width}×{height}; at most {MAX_SIDE} pixels a side")
        packed = np.packbits(self._mask, axis=None).tobytes()
        ext = CanvasExtension(
            left, top, right, bottom, self.width, self.height, packed, self._state, self._next_state
        )
        self._next_state += 1
        return ext

    def extend(self, ext: CanvasExtension) -> None:
        """Grow the canvas; the new area becomes the mask (what a run will fill)."""
        self._rgb = pad_edges(self._rgb, ext)
        if self._alpha is not None:
            self._alpha = pad_edges(self._alpha, ext, constant=255)
        if self.source16 is not None:
            self.source16 = pad_edges(self.source16, ext)
        if self.alpha16 is not None:
            self.alpha16 = pad_edges(self.alpha16, ext, constant=65535)
        if self._sketch is not None:
            self._sketch.colours = pad_edges(self._sketch.colours, ext, constant=0)
            self._sketch.painted = pad_edges(self._sketch.painted, ext, constant=0)
        self._mask = np.ones(self._rgb.shape[:2], bool)
        self._mask[ext.inner.slices] = False
        self._mask_changed()
        self._operations.append(ext)
        self._state = ext.after_state

    def unextend(self, ext: CanvasExtension) -> None:
        """Undo ``ext``, which must be the last operation."""
        if not self._operations or self._operations[-1] is not ext:
            raise ValueError("only the last canvas extension can be reverted")
        self._operations.pop()
        self._rgb = crop_to(self._rgb, ext)
        for name in ("_alpha", "source16", "alpha16"):
            if getattr(self, name) is not None:
                setattr(self, name, crop_to(getattr(self, name), ext))
        if self._sketch is not None:
            self._sketch.colours = crop_to(self._sketch.colours, ext)
            self._sketch.painted = crop_to(self._sketch.painted, ext)
        self._mask = ext.restored_mask()
        self._mask_changed()
        self._state = ext.before_state

    def picture_before(self, operation: AppliedEdit | CanvasExtension) -> np.ndarray:
        """The pixels as they were just before ``operation`` (which must be applied)."""
        if operation not in self._operations:
            raise ValueError("that operation is not applied")
        picture = np.array(self._rgb, copy=True)
        for later in reversed(self._operations[self._operations.index(operation) :]):
            if isinstance(later, CanvasExtension):
                picture = crop_to(picture, later)
            else:
                picture[later.image.box.slices] = later.image.before
        return picture

    def alpha_before(self, operation: AppliedEdit | CanvasExtension) -> np.ndarray | None:
        """The alpha channel as it was just before ``operation`` (None for an opaque picture)."""
        if self._alpha is None:
            return None
        if operation not in self._operations:
            raise ValueError("that operation is not applied")
        alpha = np.array(self._alpha, copy=True)
        for later in reversed(self._operations[self._operations.index(operation) :]):
            if isinstance(later, CanvasExtension):
                alpha = crop_to(alpha, later)
            elif later.image.alpha_before is not None:
                alpha[later.image.box.slices] = later.image.alpha_before
        return alpha

    def revert_edit(self, edit: AppliedEdit) -> None:
        """Undo ``edit``, which must be the last one applied."""
        if not self._operations or self._operations[-1] is not edit:
            raise ValueError("only the last applied edit can be reverted")
        self._edits.pop()
        self._operations.pop()
        self._rgb[edit.image.box.slices] = edit.image.before
        if self._alpha is not None and edit.image.alpha_before is not None:
            self._alpha[edit.image.box.slices] = edit.image.alpha_before
        if edit.mask is not None:
            self.apply_mask_patch(edit.mask, forward=False)
        self._state = edit.image.before_state

    # -- files --------------------------------------------------------------------------

    def text_chunks(self) -> dict[str, str]:
        """What a saved PNG records: the latest edit's parameters and the list of all edits.

        Edits recorded in the file this document was opened from come first, so
        that a picture edited over several sessions keeps its whole story.
        ``metadata.save_image`` adds the ``parameters`` summary and ``Software``.
        """
        edits = [e.to_json() for e in self.earlier_edits]
        for edit in self._edits:
            entry: dict[str, Any] = dict(edit.parameters)
            if edit.record is not None:
                entry["record"] = edit.record.to_json()
            edits.append(entry)
        chunks = {k: v for k, v in self.text.items() if k not in (EDITS_KEY, "parameters", "Software")}
        if edits:
            chunks.update({k: str(v) for k, v in edits[-1].items() if k != "record"})
            chunks[EDITS_KEY] = json.dumps(edits)
        return chunks

    def save(self, path: str | Path, *, quality: int = 92, remember: bool = True) -> Path:
        """Write PNG (with text chunks), JPEG or WebP, chosen by the file extension.

        ``remember``: this is the document's file from now on and the current
        state counts as saved (Save / Save As); False for an export copy.
        Raises ``ValueError`` for an unknown extension and ``OSError`` when the
        file cannot be written; an existing file is replaced only once the new
        one is complete.
        """
        path = Path(path)
        png = path.suffix.lower() == ".png"
        deep = png and self.source16 is not None and self.source16.shape == self._rgb.shape
        alpha_deep = deep and self.alpha16 is not None and self._alpha is not None
        source = {
            "icc_profile": self.icc_profile,
            "exif": self.exif,
            "source16": self.source16 if deep else None,
            "alpha16": self.alpha16 if alpha_deep else None,
        }
        info = self.text_chunks() if png else None
        self.dropped_text = tuple(png_text_fields(info)[1])
        save_image(
            path,
            self._rgb,
            alpha=self._alpha,
            info=info,
            quality=quality,
            **{k: v for k, v in source.items() if v is not None},
        )
        if remember:
            self.path = path
            self.saved_state = self._state
            self.owns_file = True
        return path
