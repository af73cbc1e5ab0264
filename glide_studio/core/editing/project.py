"""Project files (``.glide``): a whole editing session in one zip.

Layout: ``manifest.json`` (format name and version, picture size, prompt, the
edits with their boxes, parameters and records, the pending run), then PNG
layers: ``original.png`` (the picture before any edit, with its alpha),
``edits/NNNN-before.png`` and ``-after.png`` (each edit's patch),
``edits/NNNN-cleared.png`` (the mask the edit cleared), ``mask.png`` (the
current mask) and ``candidates/K.png`` (pending candidates' patches); for a
16-bit source also ``original16.npy`` (its exact 16-bit samples, with alpha),
so that saving the reopened project loses no precision.
Reopening replays the patches onto the original, so History, undo and exact
regeneration all come back. Written to a temporary file and renamed, so a
failed save never damages an existing project.

Reading trusts nothing: every entry's size is checked before it is inflated
(against the size the manifest gives it, itself bounded), every layer's
dimensions before it is decoded, and every manifest value's type, so a
damaged or hostile file ends in ``ProjectError``, never in another exception
or gigabytes of memory.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import struct
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..generation.events import Candidate
from ..generation.request import RequestError
from ..generation.settings_codec import request_from_settings, request_settings
from ..imaging.files import MAX_PIXELS
from ..imaging.region import Box, mask_bounds
from ..imaging.safe_write import atomic_write
from .canvas_size import MAX_SIDE, CanvasExtension, crop_to
from .document import Document, read_recorded_edits
from .patches import AppliedEdit, EditRecord, MaskPatch
from .run import Run, RunStatus
from .session import EditingSession
from .sketch import SketchPatch
from .undo_steps import ApplyStep, ExtendStep, MaskStep, SketchStep

__all__ = [
    "FORMAT",
    "PROJECT_SUFFIX",
    "VERSION",
    "ProjectError",
    "ProjectSnapshot",
    "load_project",
    "read_manifest",
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
        alpha = doc.alpha_before(operations[0]) if operations else np.array(doc.alpha, copy=True)
        picture = np.dstack([picture, alpha])
    return picture


def _original16(doc: Document) -> np.ndarray | None:
    """The 16-bit source before every extension (with its 16-bit alpha), or None."""
    if doc.source16 is None or doc.source16.shape != np.asarray(doc.rgb).shape:
        return None
    deep = np.asarray(doc.source16)
    alpha = None
    if doc.alpha is not None:
        alpha = np.asarray(doc.alpha16) if doc.alpha16 is not None else np.asarray(doc.alpha) * np.uint16(257)
    for ext in reversed([op for op in doc.operations if isinstance(op, CanvasExtension)]):
        deep = crop_to(deep, ext)
        alpha = None if alpha is None else crop_to(alpha, ext)
    return deep if alpha is None else np.dstack([deep, alpha])


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


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
    image = edit.image
    alpha = image.alpha_before is not None and image.alpha_after is not None
    if alpha:  # the box's alpha before and after ride along as RGBA layers
        assert image.alpha_before is not None and image.alpha_after is not None
        before = np.dstack([image.before, image.alpha_before])
        after = np.dstack([image.after, image.alpha_after])
    else:
        before, after = image.before, image.after
    layers += [(f"{stem}-before.png", before), (f"{stem}-after.png", after)]
    entry: dict[str, Any] = {
        "kind": "edit",
        "box": _box_list(edit.image.box),
        "parameters": edit.parameters,
        "record": edit.record.to_json() if edit.record is not None else None,
        "cleared": None,
        "alpha": alpha,
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
    deep = _original16(doc)
    if deep is not None:
        layers.append(("original16.npy", deep))
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
        "deep": deep is not None,
        "run": _run_entry(layers, session.run) if include_candidates else None,
        "edge_softness": session.edge_softness,
        "keep_transparency": session.keep_transparency,
    }
    return ProjectSnapshot(tuple(layers), manifest)


def write_project(snapshot: ProjectSnapshot, path: str | Path) -> Path:
    """Write a snapshot; raises ``OSError`` when it cannot be written (nothing is replaced then).

    The file is made exclusively under a fresh name and renamed: a link planted
    at any name on the way is never written through.
    """
    path = Path(path)
    with atomic_write(path) as handle, zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, array in snapshot.layers:
            if name.endswith(".npy"):
                zf.writestr(name, _npy(array), compress_type=zipfile.ZIP_DEFLATED)
            else:
                zf.writestr(name, _png(array))
        zf.writestr("manifest.json", json.dumps(snapshot.manifest, indent=1))
    return path


def save_project(session: EditingSession, path: str | Path, *, include_candidates: bool = True) -> Path:
    """Write the session; raises ``OSError`` when it cannot be written (nothing is replaced then)."""
    return write_project(snapshot_project(session, include_candidates=include_candidates), path)


# -- reading ---------------------------------------------------------------------------------

MAX_MANIFEST_BYTES = 64 * 1024 * 1024
"""A manifest holds settings and records (masks compressed): megabytes at most."""
MAX_JSON_DEPTH = 64
_ALLOWED_COMPRESSION = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


class _Damaged(ValueError):
    """A problem found while reading; ``load_project`` words it for the user."""


def _checked_info(zf: zipfile.ZipFile, name: str, limit: int) -> zipfile.ZipInfo:
    """An entry that exists, is not encrypted, is stored or deflated and claims at most ``limit`` bytes."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise _Damaged(f"{name} is missing") from None
    if info.flag_bits & 0x1:
        raise _Damaged(f"{name} is encrypted")
    if info.compress_type not in _ALLOWED_COMPRESSION:
        raise _Damaged(f"{name} uses a compression this program does not read ({info.compress_type})")
    if info.file_size > limit:
        raise _Damaged(f"{name} holds {info.file_size} bytes, more than its {limit} may be")
    return info


def _entry(zf: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """An entry's bytes, refused before inflating when it claims (or holds) more than ``limit``."""
    info = _checked_info(zf, name, limit)
    with zf.open(info) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise _Damaged(f"{name} holds more than its {limit} bytes")
    return data


def _png_limit(width: int, height: int, channels: int = 4) -> int:
    """The most bytes a PNG of that size can take (no compression at all, 16 bits, every row filtered)."""
    return 2 * channels * width * height + height + 64 * 1024 * 1024


def _read_png(
    zf: zipfile.ZipFile, name: str, size: tuple[int, int], *, mode: str | None = None
) -> np.ndarray:
    """A PNG layer that must be ``size`` (width, height): checked before its pixels are decoded.

    Streamed from the zip (never held whole): memory is the decoded picture, which
    its checked size bounds.
    """
    info = _checked_info(zf, name, _png_limit(*size))
    with zf.open(info) as handle, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = Image.open(handle, formats=["PNG"])
        if image.size != tuple(size):
            raise _Damaged(f"{name} is {image.width}×{image.height}, not {size[0]}×{size[1]}")
        image.load()
    if mode is not None and image.mode != mode:
        image = image.convert(mode)
    return np.asarray(image).copy()


def _read_npy(zf: zipfile.ZipFile, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A uint16 array of exactly ``shape``; its header is read before its data."""
    nbytes = 2 * math.prod(shape)
    data = _entry(zf, name, nbytes + 4096)
    buffer = io.BytesIO(data)
    version = np.lib.format.read_magic(buffer)
    if version == (1, 0):
        found, fortran, dtype = np.lib.format.read_array_header_1_0(buffer)
    else:
        found, fortran, dtype = np.lib.format.read_array_header_2_0(buffer)
    if tuple(found) != tuple(shape) or np.dtype(dtype) != np.dtype("<u2") or fortran:
        raise _Damaged(f"{name} is not the {shape} 16-bit picture the manifest describes")
    array = np.frombuffer(buffer.read(nbytes), dtype="<u2")
    if array.size != math.prod(shape):
        raise _Damaged(f"{name} is truncated")
    return array.reshape(shape).astype(np.uint16)


def _int(value: Any, what: str, *, low: int = 0, high: int = 2**31) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Damaged(f"{what} is {value!r}, not a whole number")
    if not low <= value <= high:
        raise _Damaged(f"{what} is {value}, outside {low}..{high}")
    return value


def _box(values: Any, what: str = "a box") -> Box:
    if not isinstance(values, list) or len(values) != 4:
        raise _Damaged(f"{what} is not four numbers")
    left, top, right, bottom = (_int(v, what, low=-(2**20), high=2**20) for v in values)
    box = Box(left, top, right, bottom)
    if box.width <= 0 or box.height <= 0:
        raise _Damaged(f"{what} {values} is empty")
    return box


def _inside(box: Box, doc: Document, what: str) -> Box:
    if box.clipped(doc.width, doc.height) != box:
        raise _Damaged(f"{what} {_box_list(box)} lies outside the {doc.width}×{doc.height} picture")
    return box


def _table(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Damaged(f"{what} is not a table")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise _Damaged(f"{what} is not a list")
    return value


def _depth(value: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse JSON nested deeper than ``limit`` (iteratively: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise _Damaged(f"the manifest is nested more than {limit} levels deep")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Damaged(f"the manifest holds the number {text}, too large")
    return value


def _refuse_constant(text: str) -> float:
    raise _Damaged(f"the manifest holds {text}, which is not a number")


def _manifest(zf: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    if "manifest.json" not in zf.namelist():
        raise ProjectError(f"{path}: not a GLIDE Studio project (no manifest)")
    raw = _entry(zf, "manifest.json", MAX_MANIFEST_BYTES)
    try:
        manifest = json.loads(raw, parse_float=_finite, parse_constant=_refuse_constant)
    except RecursionError:
        raise _Damaged("the manifest is nested too deeply") from None
    except UnicodeDecodeError:
        raise _Damaged("the manifest is not text") from None
    except json.JSONDecodeError as exc:
        raise _Damaged(f"the manifest is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ProjectError(f"{path}: not a GLIDE Studio project")
    version = manifest.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ProjectError(f"{path}: the project version {version!r} is malformed (the file is damaged)")
    if version > VERSION:
        raise ProjectError(
            f"{path}: written by a newer GLIDE Studio (project version {version}; this one reads {VERSION})"
        )
    _depth(manifest)
    return manifest


def read_manifest(path: str | Path) -> dict[str, Any]:
    """A project's manifest alone, checked as ``load_project`` checks it; raises ``ProjectError``.

    Reads no layer: what ``glide-studio info`` shows comes from here.
    """
    path = Path(path)
    with _project_errors(path), zipfile.ZipFile(path) as zf:
        return _manifest(zf, path)


def _read_edit(zf: zipfile.ZipFile, k: int, entry: dict[str, Any], doc: Document) -> AppliedEdit:
    stem = f"edits/{k:04d}"
    what = f"edit {k + 1}"
    box = _inside(_box(entry.get("box"), f"{what}'s box"), doc, f"{what}'s box")
    size = (box.width, box.height)
    with_alpha = entry.get("alpha") is True and doc.alpha is not None
    before = _read_png(zf, f"{stem}-before.png", size, mode="RGBA" if with_alpha else "RGB")
    after = _read_png(zf, f"{stem}-after.png", size, mode="RGBA" if with_alpha else "RGB")
    alpha = None
    if with_alpha:
        alpha = (before[..., 3].copy(), after[..., 3].copy())
        before, after = np.ascontiguousarray(before[..., :3]), np.ascontiguousarray(after[..., :3])
    mask = None
    if entry.get("cleared") is not None:
        cleared_box = _inside(_box(entry["cleared"], f"{what}'s mask box"), doc, f"{what}'s mask box")
        cleared = _read_png(zf, f"{stem}-cleared.png", (cleared_box.width, cleared_box.height))
        if cleared.ndim != 2:
            raise _Damaged(f"{what}'s cleared mask is not a one-channel picture")
        cleared = cleared.astype(bool)
        mask = MaskPatch.capture(cleared, np.zeros_like(cleared), cleared_box)
    record = None
    if isinstance(entry.get("record"), dict):
        try:
            record = EditRecord.from_json(entry["record"])
        except ValueError:
            record = None  # the edit itself is intact: only its regeneration record is lost
    parameters = {str(key): str(value) for key, value in _table(entry.get("parameters", {}), what).items()}
    return doc.restored_edit(box, before, after, parameters, cleared=mask, record=record, alpha=alpha)


def _push_mask(session: EditingSession, box: Box | None, edit: AppliedEdit, label: str) -> None:
    """Paint the mask an edit cleared as its own undo step before the edit, as it was painted live:
    going back past the edit then shows exactly that edit's mask, not every later one piled up."""
    if box is None or edit.mask is None:
        return
    doc = session.document
    before = doc.mask_snapshot()
    doc.paint(box, edit.mask.before, True)
    patch = doc.capture_mask_change(before, box)
    if patch is not None:
        session.history.push(MaskStep(patch, label))


def _read_extension(entry: dict[str, Any], doc: Document) -> CanvasExtension:
    sides = _list(entry.get("sides"), "a canvas extension's sides")
    if len(sides) != 4:
        raise _Damaged("a canvas extension does not have four sides")
    left, top, right, bottom = (_int(v, "a canvas extension's side", high=MAX_SIDE) for v in sides)
    old_mask = entry.get("mask")
    if not isinstance(old_mask, str):
        raise _Damaged("a canvas extension's mask is missing")
    packed = base64.b64decode(old_mask, validate=True)
    if len(packed) != (doc.width * doc.height + 7) // 8:
        raise _Damaged("a canvas extension's mask does not match the picture")
    return replace(doc.extension(left, top, right, bottom), old_mask=packed)


def _read_run(zf: zipfile.ZipFile, data: dict[str, Any], doc: Document) -> Run:
    mask = _read_png(zf, "run/mask.png", (doc.width, doc.height))
    if mask.ndim != 2:
        raise _Damaged("the pending run's mask is not a one-channel picture")
    settings = _table(data.get("settings"), "the pending run's settings")
    request = request_from_settings(settings, image=np.array(doc.rgb), mask=mask.astype(bool))
    model = data.get("model", "")
    run = Run(request=request, image_state=doc.image_state, model=model if isinstance(model, str) else "")
    run.status = RunStatus(data.get("status", "finished"))
    items = _list(data.get("candidates"), "the pending candidates")
    if len(items) > 64:
        raise _Damaged(f"the pending run holds {len(items)} candidates")
    run.selected = _int(data.get("selected", 0), "the selected candidate", high=max(len(items) - 1, 0))
    for item in items:
        item = _table(item, "a candidate")
        box = _inside(_box(item.get("box"), "a candidate's box"), doc, "a candidate's box")
        index = _int(item.get("index"), "a candidate's number", high=63)
        patch = _read_png(zf, f"candidates/{index}.png", (box.width, box.height), mode="RGB")
        seed = _int(item.get("seed"), "a candidate's seed", high=2**63)
        run.candidates.append(Candidate(index=index, seed=seed, box=box, patch=patch, original=request.image))
    if data.get("region") is not None:
        from ..generation.events import Started

        stages = ("base",)
        region = _box(data["region"], "the run's region")
        run.started = Started(stages=stages, steps=(0,), seeds=request.seeds, box=region)
    return run


def load_project(path: str | Path) -> EditingSession:
    """Open a project; raises ``ProjectError`` with a message for the user (and nothing else)."""
    path = Path(path)
    with _project_errors(path), zipfile.ZipFile(path) as zf:
        manifest = _manifest(zf, path)
        return _session_from(zf, manifest, path)


@contextmanager
def _project_errors(path: Path) -> Iterator[None]:
    """Whatever reading a project raises becomes its ``ProjectError``, in a user's words (a
    hostile file's exceptions are the file's fault, not the program's)."""
    try:
        yield
    except ProjectError:
        raise
    except FileNotFoundError:
        raise ProjectError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ProjectError(f"{path}: is a folder, not a project file") from None
    except PermissionError:
        raise ProjectError(f"{path}: cannot be read (permission denied)") from None
    except zipfile.BadZipFile:
        raise ProjectError(f"{path}: not a GLIDE Studio project, or the file is damaged") from None
    except MemoryError:
        raise ProjectError(f"{path}: not enough memory to open the project") from None
    except RecursionError:
        raise ProjectError(f"{path}: the project file is damaged (nested too deeply)") from None
    except (
        _Damaged,
        KeyError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        OverflowError,
        OSError,
        EOFError,
        RuntimeError,
        NotImplementedError,
        RequestError,
        zipfile.LargeZipFile,
        zlib.error,
        binascii.Error,
        struct.error,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise ProjectError(f"{path}: the project file is damaged ({_plain(exc)})") from None
    except Exception as exc:
        raise ProjectError(
            f"{path}: the project file is damaged ({type(exc).__name__}: {_plain(exc)})"
        ) from None


def _plain(exc: BaseException) -> str:
    """An exception's message on one line, at most 300 characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:299] + "…"


def _size(value: Any, what: str) -> tuple[int, int]:
    values = _list(value, what)
    if len(values) != 2:
        raise _Damaged(f"{what} is not a width and a height")
    width, height = (_int(v, what, low=1, high=2**20) for v in values)
    if width * height > MAX_PIXELS:
        raise _Damaged(f"{what} {width}×{height} is larger than any picture this program opens")
    return width, height


def _session_from(zf: zipfile.ZipFile, manifest: dict[str, Any], path: Path) -> EditingSession:
    size = _size([manifest.get("width"), manifest.get("height")], "the picture's size")
    first_size = _size(manifest.get("original_size", list(size)), "the original picture's size")
    original = _read_png(zf, "original.png", first_size)
    if original.dtype != np.uint8:
        raise _Damaged("original.png is not an 8-bit picture")
    if original.ndim == 2:
        original = np.dstack([original] * 3)
    if original.ndim != 3 or original.shape[2] not in (3, 4):
        raise _Damaged("original.png is neither RGB nor RGBA")
    alpha = original[..., 3].copy() if original.shape[2] == 4 else None
    rgb = np.ascontiguousarray(original[..., :3])
    source = manifest.get("source")
    text = _table(manifest.get("text") or {}, "the picture's text")
    doc = Document(
        rgb,
        alpha=alpha,
        path=source if isinstance(source, str) else None,
        text={str(k): str(v) for k, v in text.items()},
    )
    earlier = _list(manifest.get("earlier_edits", []), "the earlier edits")
    doc.earlier_edits = read_recorded_edits({"glide_studio:edits": json.dumps(earlier)})
    icc, exif = manifest.get("icc_profile"), manifest.get("exif")
    doc.icc_profile = base64.b64decode(icc, validate=True) if isinstance(icc, str) and icc else None
    doc.exif = base64.b64decode(exif, validate=True) if isinstance(exif, str) and exif else None
    if manifest.get("deep") and "original16.npy" in zf.namelist():
        planes = 4 if alpha is not None else 3
        deep = _read_npy(zf, "original16.npy", (rgb.shape[0], rgb.shape[1], planes))
        doc.source16 = np.ascontiguousarray(deep[..., :3])
        doc.alpha16 = np.ascontiguousarray(deep[..., 3]) if alpha is not None else None
    session = EditingSession(doc)
    edits = _list(manifest.get("edits", []), "the edits")
    for k, entry in enumerate(edits):
        entry = _table(entry, f"edit {k + 1}")
        if entry.get("kind") == "extend":
            ext = _read_extension(entry, doc)
            session.resize(ext, forward=True)
            session.history.push(ExtendStep(ext))
            continue
        edit = _read_edit(zf, k, entry, doc)
        _push_mask(session, edit.mask.box if edit.mask is not None else None, edit, f"Mask of edit {k + 1}")
        session.apply_edit(edit, forward=True)
        session.history.push(ApplyStep(edit, None))
    if (doc.width, doc.height) != size:
        raise _Damaged(
            f"the edits end at {doc.width}×{doc.height}, but the manifest says {size[0]}×{size[1]}"
        )
    if manifest.get("mask"):
        mask = _read_png(zf, "mask.png", size)
        if mask.ndim != 2:
            raise _Damaged("mask.png is not a one-channel picture")
        before = doc.mask_snapshot()
        doc.paint(doc.bounds, mask.astype(bool), True)
        painted = doc.capture_mask_change(before, doc.bounds)
        if painted is not None:  # its own step: going back in History takes it away again
            session.history.push(MaskStep(painted, "Mask"))
    if manifest.get("sketch"):
        colours = _read_png(zf, "sketch.png", size, mode="RGB")
        painted = _read_png(zf, "sketch-painted.png", size)
        if painted.ndim != 2:
            raise _Damaged("sketch-painted.png is not a one-channel picture")
        layer = doc.sketch_layer()
        box = mask_bounds(painted.astype(bool))
        if box is not None:  # its own step, so going back in History takes it away again
            before = layer.region(box)
            layer.put(doc.bounds, (colours, painted.astype(bool)))
            patch = SketchPatch(box, before, layer.region(box))
            session.history.push(SketchStep(patch, None, "Colour sketch"))
    if manifest.get("run"):
        session.run = _read_run(zf, _table(manifest["run"], "the pending run"), doc)
    prompt = manifest.get("prompt", "")
    session.prompt = prompt if isinstance(prompt, str) else ""
    session.edge_softness = _int(manifest.get("edge_softness", 0), "the soft edge", high=256)
    session.keep_transparency = manifest.get("keep_transparency") is True
    doc.saved_state = doc.image_state
    doc.project_path = path
    return session
