"""Project files (``.glide``): a whole editing session in one zip.

Layout: ``manifest.json`` (format name and version, picture size, prompt, the
edits with their boxes, parameters and records, the pending run), then PNG
layers: ``original.png`` (the picture before any edit, with its alpha),
``edits/NNNN-before.png`` and ``-after.png`` (each edit's patch),
``edits/NNNN-cleared.png`` (the mask the edit cleared), ``mask.png`` (the
current mask) and ``candidates/K.png`` (pending candidates' patches).
Reopening replays the patches onto the original, so History, undo and exact
regeneration all come back. Written to a temporary file and renamed, so a
failed save never damages an existing project.
"""

from __future__ import annotations

import base64
import io
import json
import os
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..generation.events import Candidate
from ..generation.request import RequestError
from ..generation.settings_codec import request_from_settings, request_settings
from ..imaging.region import Box
from .canvas_size import CanvasExtension, crop_to
from .document import Document, RecordedEdit
from .patches import AppliedEdit, EditRecord, MaskPatch
from .run import Run, RunStatus
from .session import EditingSession
from .undo_steps import ApplyStep, ExtendStep

__all__ = [
    "FORMAT",
    "PROJECT_SUFFIX",
    "VERSION",
    "ProjectError",
    "ProjectSnapshot",
    "load_project",
    "save_project",
    "snapshot_project",
    "write_project",
]

FORMAT = "glide-studio-project"
VERSION = 1
PROJECT_SUFFIX = ".glide"


class ProjectError(ValueError):
    """A project file that cannot be read; the message names it and says why."""


# -- small codecs ------------------------------------------------------------------------------


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def _read_png(zf: zipfile.ZipFile, name: str, *, mode: str | None = None) -> np.ndarray:
    with zf.open(name) as handle:
        image = Image.open(io.BytesIO(handle.read()))
        image.load()
    if mode is not None and image.mode != mode:
        image = image.convert(mode)
    return np.asarray(image).copy()


def _box(values: Any) -> Box:
    left, top, right, bottom = (int(v) for v in values)
    return Box(left, top, right, bottom)


def _box_list(box: Box) -> list[int]:
    return [box.left, box.top, box.right, box.bottom]


def _bytes_field(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


# -- writing ---------------------------------------------------------------------------------


def _original(doc: Document) -> np.ndarray:
    """The picture before every edit and extension (with its alpha, if it has one)."""
    operations = doc.operations
    picture = doc.picture_before(operations[0]) if operations else np.array(doc.rgb, copy=True)
    if doc.alpha is not None:
        alpha = np.asarray(doc.alpha)
        for ext in reversed([op for op in operations if isinstance(op, CanvasExtension)]):
            alpha = crop_to(alpha, ext)
        picture = np.dstack([picture, alpha])
    return picture


def _extension_entry(ext: CanvasExtension) -> dict[str, Any]:
    return {
        "kind": "extend",
        "sides": [ext.left, ext.top, ext.right, ext.bottom],
        "mask": base64.b64encode(ext.old_mask).decode("ascii"),
    }


@dataclass(frozen=True, eq=False)
class ProjectSnapshot:
    """A session's content at one moment, ready to be written from any thread.

    Taking it copies only what may still change (the current picture and mask);
    edit patches and candidates never change once made, so they are shared.
    """

    layers: tuple[tuple[str, np.ndarray], ...]
    manifest: dict[str, Any]


def _edit_entry(layers: list[tuple[str, np.ndarray]], k: int, edit: AppliedEdit) -> dict[str, Any]:
    stem = f"edits/{k:04d}"
    layers += [(f"{stem}-before.png", edit.image.before), (f"{stem}-after.png", edit.image.after)]
    entry: dict[str, Any] = {
        "kind": "edit",
        "box": _box_list(edit.image.box),
        "parameters": edit.parameters,
        "record": edit.record.to_json() if edit.record is not None else None,
        "cleared": None,
    }
    if edit.mask is not None:
        layers.append((f"{stem}-cleared.png", edit.mask.before))
        entry["cleared"] = _box_list(edit.mask.box)
    return entry


def _run_entry(layers: list[tuple[str, np.ndarray]], run: Run | None) -> dict[str, Any] | None:
    if run is None or run.running or not run.candidates:
        return None
    layers.append(("run/mask.png", np.asarray(run.request.mask)))
    layers += [(f"candidates/{cand.index}.png", cand.patch) for cand in run.candidates]
    return {
        "settings": request_settings(run.request),
        "image_state": run.image_state,
        "model": run.model,
        "status": run.status.value,
        "selected": run.selected,
        "region": _box_list(run.box) if run.box is not None else None,
        "candidates": [{"index": c.index, "seed": c.seed, "box": _box_list(c.box)} for c in run.candidates],
    }


def snapshot_project(session: EditingSession, *, include_candidates: bool = True) -> ProjectSnapshot:
    doc = session.document
    layers: list[tuple[str, np.ndarray]] = [("original.png", _original(doc))]
    edits = [
        _extension_entry(op) if isinstance(op, CanvasExtension) else _edit_entry(layers, k, op)
        for k, op in enumerate(doc.operations)
    ]
    masked = doc.mask_box() is not None
    if masked:
        layers.append(("mask.png", np.array(doc.mask)))
    sketched = doc.sketch is not None and not doc.sketch.empty
    if sketched:
        assert doc.sketch is not None
        layers += [
            ("sketch.png", doc.sketch.colours.copy()),
            ("sketch-painted.png", doc.sketch.painted.copy()),
        ]
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "width": doc.width,
        "height": doc.height,
        "original_size": [int(layers[0][1].shape[1]), int(layers[0][1].shape[0])],
        "source": str(doc.path) if doc.path is not None else None,
        "prompt": session.prompt,
        "text": dict(doc.text),
        "earlier_edits": [e.to_json() for e in doc.earlier_edits],
        "icc_profile": _bytes_field(doc.icc_profile),
        "exif": _bytes_field(doc.exif),
        "edits": edits,
        "mask": masked,
        "sketch": sketched,
        "run": _run_entry(layers, session.run) if include_candidates else None,
    }
    return ProjectSnapshot(tuple(layers), manifest)


def write_project(snapshot: ProjectSnapshot, path: str | Path) -> Path:
    """Write a snapshot; raises ``OSError`` when it cannot be written (nothing is replaced then)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.saving")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for name, array in snapshot.layers:
                zf.writestr(name, _png(array))
            zf.writestr("manifest.json", json.dumps(snapshot.manifest, indent=1))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save_project(session: EditingSession, path: str | Path, *, include_candidates: bool = True) -> Path:
    """Write the session; raises ``OSError`` when it cannot be written (nothing is replaced then)."""
    return write_project(snapshot_project(session, include_candidates=include_candidates), path)


# -- reading ---------------------------------------------------------------------------------


def _manifest(zf: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(zf.read("manifest.json"))
    except KeyError:
        raise ProjectError(f"{path}: not a GLIDE Studio project (no manifest)") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ProjectError(f"{path}: not a GLIDE Studio project")
    version = manifest.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise ProjectError(
            f"{path}: written by a newer GLIDE Studio (project version {version}; this one reads {VERSION})"
        )
    return manifest


def _read_edit(zf: zipfile.ZipFile, k: int, entry: dict[str, Any], doc: Document) -> AppliedEdit:
    stem = f"edits/{k:04d}"
    box = _box(entry["box"])
    before, after = (
        _read_png(zf, f"{stem}-before.png", mode="RGB"),
        _read_png(zf, f"{stem}-after.png", mode="RGB"),
    )
    if before.shape[:2] != (box.height, box.width) or after.shape != before.shape:
        raise ValueError(f"edit {k + 1}'s pixels do not match its box")
    mask = None
    if entry.get("cleared") is not None:
        cleared_box = _box(entry["cleared"])
        cleared = _read_png(zf, f"{stem}-cleared.png").astype(bool)
        mask = MaskPatch.capture(cleared, np.zeros_like(cleared), cleared_box)
    record = EditRecord.from_json(entry["record"]) if entry.get("record") else None
    parameters = {str(key): str(value) for key, value in dict(entry["parameters"]).items()}
    return doc.restored_edit(box, before, after, parameters, cleared=mask, record=record)


def _read_run(zf: zipfile.ZipFile, data: dict[str, Any], doc: Document) -> Run:
    mask = _read_png(zf, "run/mask.png").astype(bool)
    request = request_from_settings(data["settings"], image=np.array(doc.rgb), mask=mask)
    run = Run(request=request, image_state=doc.image_state, model=str(data.get("model", "")))
    run.status = RunStatus(data.get("status", "finished"))
    run.selected = int(data.get("selected", 0))
    for item in data["candidates"]:
        box = _box(item["box"])
        patch = _read_png(zf, f"candidates/{int(item['index'])}.png", mode="RGB")
        run.candidates.append(
            Candidate(
                index=int(item["index"]), seed=int(item["seed"]), box=box, patch=patch, original=request.image
            )
        )
    if data.get("region") is not None:
        from ..generation.events import Started

        stages = ("base",)
        run.started = Started(stages=stages, steps=(0,), seeds=request.seeds, box=_box(data["region"]))
    return run


def load_project(path: str | Path) -> EditingSession:
    """Open a project; raises ``ProjectError`` with a message for the user."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = _manifest(zf, path)
            return _session_from(zf, manifest, path)
    except ProjectError:
        raise
    except FileNotFoundError:
        raise ProjectError(f"{path}: file not found") from None
    except zipfile.BadZipFile:
        raise ProjectError(f"{path}: not a GLIDE Studio project, or the file is damaged") from None
    except (KeyError, ValueError, TypeError, OSError, RequestError, zipfile.LargeZipFile) as exc:
        raise ProjectError(f"{path}: the project file is damaged ({exc})") from None


def _session_from(zf: zipfile.ZipFile, manifest: dict[str, Any], path: Path) -> EditingSession:
    original = _read_png(zf, "original.png")
    alpha = original[..., 3].copy() if original.ndim == 3 and original.shape[2] == 4 else None
    rgb = np.ascontiguousarray(original[..., :3]) if original.ndim == 3 else np.dstack([original] * 3)
    first_size = manifest.get("original_size", [manifest["width"], manifest["height"]])
    if (rgb.shape[1], rgb.shape[0]) != (int(first_size[0]), int(first_size[1])):
        raise ValueError("the picture's size does not match the manifest")
    source = manifest.get("source")
    doc = Document(rgb, alpha=alpha, path=source, text=dict(manifest.get("text") or {}))
    doc.earlier_edits = tuple(
        RecordedEdit(
            {str(k): str(v) for k, v in e.items() if k != "record"},
            EditRecord.from_json(e["record"]) if isinstance(e.get("record"), dict) else None,
        )
        for e in manifest.get("earlier_edits", [])
    )
    doc.icc_profile = base64.b64decode(manifest["icc_profile"]) if manifest.get("icc_profile") else None
    doc.exif = base64.b64decode(manifest["exif"]) if manifest.get("exif") else None
    session = EditingSession(doc)
    for k, entry in enumerate(manifest.get("edits", [])):
        if entry.get("kind") == "extend":
            left, top, right, bottom = (int(v) for v in entry["sides"])
            ext = replace(doc.extension(left, top, right, bottom), old_mask=base64.b64decode(entry["mask"]))
            session.resize(ext, forward=True)
            session.history.push(ExtendStep(ext))
            continue
        edit = _read_edit(zf, k, entry, doc)
        session.apply_edit(edit, forward=True)
        session.history.push(ApplyStep(edit, None))
    if manifest.get("mask"):
        mask = _read_png(zf, "mask.png").astype(bool)
        doc.paint(doc.bounds, mask, True)
    if manifest.get("sketch"):
        layer = doc.sketch_layer()
        layer.put(
            doc.bounds,
            (_read_png(zf, "sketch.png", mode="RGB"), _read_png(zf, "sketch-painted.png").astype(bool)),
        )
    if manifest.get("run"):
        session.run = _read_run(zf, manifest["run"], doc)
    session.prompt = str(manifest.get("prompt", ""))
    doc.saved_state = doc.image_state
    doc.project_path = path
    return session
