"""What a picture or project file holds, read without trusting it: ``glide-studio info``.

Size, bit depth, transparency, colour profile and each recorded edit (prompt,
seed, sampler and steps, guidance, model, region, mask size), as the A1111
web UI's "PNG Info" tab shows them. PNG chunks are walked one by one, with
every length checked and every compressed chunk inflated to a bounded size,
and no pixel is decoded; a project's manifest is read as ``load_project``
reads it, without its layers. A damaged or hostile file raises
``FileInfoError`` with one line for the user, never another exception, and
never makes the reader hold more than a few hundred megabytes.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..imaging.files import MAX_TEXT_CHUNK, MAX_TEXT_MEMORY
from ..imaging.metadata import parse_parameters
from .document import EDITS_KEY, RecordedEdit, read_recorded_edits
from .patches import EditRecord
from .project import PROJECT_SUFFIX, ProjectError, read_manifest

__all__ = ["EditInfo", "FileInfo", "FileInfoError", "edit_info", "format_info", "read_file_info"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPES = {0: "grey", 2: "RGB", 3: "palette", 4: "grey with alpha", 6: "RGB with alpha"}
_MAX_CHUNK = 256 * 1024 * 1024
"""No PNG chunk this reader keeps may be larger (pixel data is skipped, never read)."""


class FileInfoError(ValueError):
    """A file that cannot be described; the message names it and says why, on one line."""


@dataclass(frozen=True)
class EditInfo:
    """One recorded edit, as a person reads it."""

    prompt: str
    seed: str | None = None
    sampler: str | None = None
    steps: str | None = None
    guidance: str | None = None
    model: str | None = None
    mode: str | None = None
    region: tuple[int, int, int, int] | None = None
    """The square the model saw (left, top, right, bottom)."""
    mask_box: tuple[int, int, int, int] | None = None
    mask_pixels: int | None = None
    sketch: bool = False
    source: str = "GLIDE Studio"
    """Which program recorded it ("GLIDE Studio", or "parameters" for another tool's A1111-style text)."""
    parameters: dict[str, str] = field(default_factory=dict)

    def details(self) -> list[str]:
        """Short phrases: "seed 7", "ddim, 50 steps", ..."""
        out = []
        if self.mode:
            out.append(self.mode)
        if self.seed:
            out.append(f"seed {self.seed}")
        if self.sampler or self.steps:
            out.append(", ".join(x for x in (self.sampler, f"{self.steps} steps" if self.steps else "") if x))
        if self.guidance:
            out.append(f"guidance {self.guidance}")
        if self.model:
            out.append(f"model {self.model}")
        return out

    def geometry(self) -> list[str]:
        out = []
        if self.region is not None:
            left, top, right, bottom = self.region
            out.append(f"region {right - left}×{bottom - top} at ({left}, {top})")
        if self.mask_box is not None:
            left, top, right, bottom = self.mask_box
            pixels = f", {self.mask_pixels} pixels" if self.mask_pixels is not None else ""
            out.append(f"mask {right - left}×{bottom - top} at ({left}, {top}){pixels}")
        if self.sketch:
            out.append("sketch-guided")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "seed": self.seed,
            "sampler": self.sampler,
            "steps": self.steps,
            "guidance": self.guidance,
            "model": self.model,
            "mode": self.mode,
            "region": list(self.region) if self.region is not None else None,
            "mask_box": list(self.mask_box) if self.mask_box is not None else None,
            "mask_pixels": self.mask_pixels,
            "sketch": self.sketch,
            "source": self.source,
            "parameters": dict(self.parameters),
        }


@dataclass(frozen=True)
class FileInfo:
    path: Path
    kind: str
    """"PNG", "JPEG", "WEBP", ... or "GLIDE Studio project"."""
    width: int
    height: int
    bit_depth: int
    colour: str
    """"RGB", "RGB with alpha", "grey", ..."""
    colour_profile: str | None = None
    """The embedded ICC profile's description, or None when there is none."""
    frames: int = 1
    exif: bool = False
    edits: tuple[EditInfo, ...] = ()
    text: dict[str, str] = field(default_factory=dict)
    """Other text the file holds (PNG text chunks other than the edit records)."""
    notes: tuple[str, ...] = ()
    """Things worth knowing: records that could not be read, a project's pending run."""

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "kind": self.kind,
            "width": self.width,
            "height": self.height,
            "bit_depth": self.bit_depth,
            "colour": self.colour,
            "colour_profile": self.colour_profile,
            "frames": self.frames,
            "exif": self.exif,
            "edits": [e.to_json() for e in self.edits],
            "text": dict(self.text),
            "notes": list(self.notes),
        }


# -- edits ----------------------------------------------------------------------------------------


def _opt(parameters: Mapping[str, str], *keys: str) -> str | None:
    for key in keys:
        value = parameters.get(key)
        if value not in (None, ""):
            return str(value)
    return None


def edit_info(
    parameters: Mapping[str, str], record: EditRecord | None, *, source: str = "GLIDE Studio"
) -> EditInfo:
    """One edit's parameters and record (either may be partial) as an ``EditInfo``."""
    params = {str(k): str(v) for k, v in parameters.items()}
    settings: Mapping[str, Any] = record.settings if record is not None else {}
    region = mask_box = pixels = None
    if record is not None:
        r, m = record.region, record.mask_box
        region, mask_box = (r.left, r.top, r.right, r.bottom), (m.left, m.top, m.right, m.bottom)
        bits = np.unpackbits(np.frombuffer(record.mask_bits, np.uint8), count=m.width * m.height)
        pixels = int(bits.sum())
    model = (record.model if record is not None and record.model else None) or _opt(params, "model")
    return EditInfo(
        prompt=params.get("prompt", ""),
        seed=_opt(params, "seed") or (str(settings["seed"]) if settings.get("seed") is not None else None),
        sampler=_opt(params, "sampler"),
        steps=_opt(params, "steps"),
        guidance=_opt(params, "guidance", "clip_guidance"),
        model=model,
        mode=_opt(params, "mode"),
        region=region,
        mask_box=mask_box,
        mask_pixels=pixels,
        sketch=record is not None and record.sketch is not None,
        source=source,
        parameters=params,
    )


def _edits_from_text(text: Mapping[str, str]) -> tuple[tuple[EditInfo, ...], list[str]]:
    notes: list[str] = []
    if EDITS_KEY in text:
        recorded = read_recorded_edits(text)
        try:
            listed = json.loads(text[EDITS_KEY])
            total = len(listed) if isinstance(listed, list) else 0
        except (ValueError, RecursionError):
            total = 0
            notes.append("the edit records are damaged and were skipped")
        if total > len(recorded):
            notes.append(f"{total - len(recorded)} damaged edit record(s) skipped")
        missing = sum(1 for e in recorded if e.record is None)
        if missing:
            notes.append(f"{missing} edit(s) without a readable regeneration record (mask, region)")
        return tuple(edit_info(e.parameters, e.record) for e in recorded), notes
    if text.get("parameters"):
        return (edit_info(parse_parameters(text["parameters"]), None, source="parameters"),), notes
    return (), notes


# -- PNG ------------------------------------------------------------------------------------------


def _inflate(data: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, limit)
    if inflater.unconsumed_tail:
        raise FileInfoError(f"a compressed chunk inflates to more than {limit} bytes")
    return out


def _text_chunk(kind: bytes, data: bytes, limit: int) -> tuple[str, str]:
    if kind == b"tEXt":
        key, _, value = data.partition(b"\0")
        return key.decode("latin-1"), value.decode("latin-1")
    if kind == b"zTXt":
        key, _, rest = data.partition(b"\0")
        return key.decode("latin-1"), _inflate(rest[1:], limit).decode("latin-1")
    key, _, rest = data.partition(b"\0")  # iTXt
    if len(rest) < 2:
        raise FileInfoError("a text chunk is truncated")
    compressed, rest = rest[0], rest[2:]
    _lang, _, rest = rest.partition(b"\0")
    _translated, _, value = rest.partition(b"\0")
    if compressed:
        value = _inflate(value, limit)
    return key.decode("latin-1"), value.decode("utf-8", "replace")


def _png_info(path: Path, handle: io.BufferedReader) -> dict[str, Any]:
    """Walk the chunks: header, text, profile, EXIF; pixel data is skipped."""
    handle.seek(8)
    header = None
    text: dict[str, str] = {}
    icc = None
    exif = transparency = False
    budget = MAX_TEXT_MEMORY
    notes: list[str] = []
    pixels = False
    while True:
        head = handle.read(8)
        if len(head) < 8:
            notes.append("the file ends without an end chunk (truncated?)")
            break
        length, kind = struct.unpack(">I4s", head)
        if length > 2**31 - 1:
            raise FileInfoError("a chunk claims an impossible length")
        if kind == b"IEND":
            break
        wanted = kind in (b"IHDR", b"tEXt", b"zTXt", b"iTXt", b"iCCP")
        if not wanted or length > _MAX_CHUNK:
            if kind == b"IDAT":
                pixels = True
            elif kind == b"eXIf":
                exif = True
            elif kind == b"tRNS":
                transparency = True
            elif wanted:
                notes.append(f"a {kind.decode('latin-1')} chunk of {length} bytes was skipped")
            handle.seek(length + 4, io.SEEK_CUR)
            continue
        data = handle.read(length)
        handle.seek(4, io.SEEK_CUR)  # CRC
        if len(data) < length:
            raise FileInfoError("the file is truncated")
        if kind == b"IHDR":
            if length < 13:
                raise FileInfoError("its header is damaged")
            header = struct.unpack(">IIBB", data[:10])
        elif kind == b"iCCP":
            _name, _, rest = data.partition(b"\0")
            try:
                icc = _inflate(rest[1:], 16 * 1024 * 1024)
            except (zlib.error, FileInfoError):
                notes.append("its colour profile is damaged")
        else:
            try:
                key, value = _text_chunk(kind, data, min(MAX_TEXT_CHUNK, budget))
            except (zlib.error, FileInfoError, UnicodeDecodeError):
                notes.append(f"a damaged {kind.decode('latin-1')} chunk was skipped")
                continue
            budget -= len(value)
            if budget <= 0:
                notes.append("more text than this reader keeps; the rest was skipped")
                budget = 0
                continue
            text[key] = value
    if header is None:
        raise FileInfoError("it has no PNG header")
    if not pixels:
        raise FileInfoError("the PNG holds no pixel data (truncated or damaged)")
    width, height, depth, colour_type = header
    colour = _COLOUR_TYPES.get(colour_type, f"colour type {colour_type}")
    if transparency and colour_type in (0, 2, 3):
        colour += " with transparency"
    return {
        "kind": "PNG",
        "width": width,
        "height": height,
        "bit_depth": depth,
        "colour": colour,
        "icc": icc,
        "exif": exif,
        "text": text,
        "notes": notes,
    }


def _profile_description(icc: bytes | None) -> str | None:
    if not icc:
        return None
    try:
        from PIL import ImageCms

        description = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
        return " ".join(description.split()) or "embedded (unnamed)"
    except Exception:  # a damaged profile is still a profile
        return "embedded (unreadable)"


_DEPTH = {
    "1": 1,
    "L": 8,
    "P": 8,
    "RGB": 8,
    "RGBA": 8,
    "LA": 8,
    "CMYK": 8,
    "YCbCr": 8,
    "I;16": 16,
    "I": 32,
    "F": 32,
}
_MODE_NAMES = {
    "L": "grey",
    "LA": "grey with alpha",
    "RGBA": "RGB with alpha",
    "P": "palette",
    "1": "black and white",
}


def _other_image(path: Path) -> dict[str, Any]:
    """Any format Pillow reads: its header only (no pixels are decoded)."""
    with Image.open(path) as image:
        text = {str(k): str(v)[:100_000] for k, v in image.info.items() if isinstance(v, str)}
        comment = image.info.get("comment")
        if isinstance(comment, bytes):
            text["comment"] = comment[:100_000].decode("utf-8", "replace")
        return {
            "kind": image.format or path.suffix.lstrip(".").upper(),
            "width": image.width,
            "height": image.height,
            "bit_depth": _DEPTH.get(image.mode, 8),
            "colour": _MODE_NAMES.get(image.mode, image.mode),
            "icc": image.info.get("icc_profile") or None,
            "exif": bool(image.info.get("exif")),
            "text": text,
            "notes": [],
            "frames": int(getattr(image, "n_frames", 1) or 1),
        }


def _picture_info(path: Path) -> FileInfo:
    with path.open("rb") as handle:
        png = handle.read(8) == _PNG_SIGNATURE
        found = _png_info(path, handle) if png else None  # type: ignore[arg-type]
    if found is None:
        found = _other_image(path)
    text = found["text"]
    edits, notes = _edits_from_text(text)
    others = {k: v for k, v in text.items() if k != EDITS_KEY}
    return FileInfo(
        path=path,
        kind=found["kind"],
        width=found["width"],
        height=found["height"],
        bit_depth=found["bit_depth"],
        colour=found["colour"],
        colour_profile=_profile_description(found["icc"]),
        frames=found.get("frames", 1),
        exif=found["exif"],
        edits=edits,
        text=others,
        notes=tuple(found["notes"] + notes),
    )


# -- projects -------------------------------------------------------------------------------------


def _project_info(path: Path) -> FileInfo:
    import base64

    manifest = read_manifest(path)
    notes: list[str] = []
    edits: list[EditInfo] = []
    earlier = manifest.get("earlier_edits", [])
    recorded: tuple[RecordedEdit, ...] = ()
    if isinstance(earlier, list):
        recorded = read_recorded_edits({EDITS_KEY: json.dumps(earlier)})
    edits += [edit_info(e.parameters, e.record) for e in recorded]
    entries = manifest.get("edits", [])
    extensions = 0
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            notes.append("a damaged edit entry was skipped")
            continue
        if entry.get("kind") == "extend":
            extensions += 1
            continue
        params = entry.get("parameters")
        params = {str(k): str(v) for k, v in params.items()} if isinstance(params, dict) else {}
        record = None
        if isinstance(entry.get("record"), dict):
            try:
                record = EditRecord.from_json(entry["record"])
            except ValueError:
                notes.append("an edit's regeneration record is damaged")
        edits.append(edit_info(params, record))
    if extensions:
        notes.append(f"the canvas was extended {extensions} time(s)")
    run = manifest.get("run")
    if isinstance(run, dict) and isinstance(run.get("candidates"), list):
        notes.append(f"{len(run['candidates'])} candidate(s) not yet applied")
    if manifest.get("mask"):
        notes.append("a painted mask")
    width, height = manifest.get("width"), manifest.get("height")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (width, height)):
        raise FileInfoError(f"{path}: the project file is damaged (its size is {width!r}×{height!r})")
    icc = manifest.get("icc_profile")
    icc_bytes = None
    try:
        icc_bytes = base64.b64decode(icc, validate=True) if isinstance(icc, str) and icc else None
    except ValueError:
        notes.append("its colour profile is damaged")
    text = manifest.get("text")
    source = manifest.get("source")
    if isinstance(source, str) and source:
        notes.append(f"made from {source}")
    prompt = manifest.get("prompt")
    if isinstance(prompt, str) and prompt:
        notes.append(f"prompt being written: {prompt[:200]}")
    return FileInfo(
        path=path,
        kind="GLIDE Studio project",
        width=width,
        height=height,
        bit_depth=16 if manifest.get("deep") else 8,
        colour="RGB",
        colour_profile=_profile_description(icc_bytes),
        exif=bool(manifest.get("exif")),
        edits=tuple(edits),
        text={str(k): str(v)[:100_000] for k, v in text.items()} if isinstance(text, dict) else {},
        notes=tuple(notes),
    )


def read_file_info(path: str | Path) -> FileInfo:
    """Describe a picture or project; raises ``FileInfoError`` (one line) for anything else."""
    path = Path(path)
    try:
        if path.is_dir():
            raise FileInfoError(f"{path}: is a folder, not a file")
        if not path.exists():
            raise FileInfoError(f"{path}: file not found")
        if path.suffix.lower() == PROJECT_SUFFIX:
            return _project_info(path)
        return _picture_info(path)
    except FileInfoError as exc:
        text = str(exc)
        raise FileInfoError(text if text.startswith(str(path)) else f"{path}: {text}") from None
    except ProjectError as exc:
        raise FileInfoError(" ".join(str(exc).split())) from None
    except PermissionError:
        raise FileInfoError(f"{path}: cannot be read (permission denied)") from None
    except UnidentifiedImageError:
        raise FileInfoError(f"{path}: not a picture or project this program reads") from None
    except MemoryError:
        raise FileInfoError(f"{path}: too large to describe") from None
    except Exception as exc:  # a hostile file: one line, never a traceback
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise FileInfoError(f"{path}: the file is damaged ({detail})") from None


def _safe(text: str) -> str:
    """Control characters (a hostile file's terminal escapes) shown as escapes, not obeyed."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def format_info(info: FileInfo) -> str:
    """Lines a person reads, like the "PNG Info" tab; every value from the file is escaped."""
    lines = [_safe(line) for line in _lines(info)]
    return "\n".join(lines)


def _lines(info: FileInfo) -> list[str]:
    lines = [str(info.path)]
    depth = f"{info.bit_depth} bits per channel"
    lines.append(f"  {info.kind}, {info.width}×{info.height}, {info.colour}, {depth}")
    lines.append(f"  Colour profile: {info.colour_profile or 'none (sRGB assumed)'}")
    if info.frames > 1:
        lines.append(f"  Frames: {info.frames} (only the first is edited)")
    if info.exif:
        lines.append("  EXIF: yes")
    if not info.edits:
        lines.append("  Edits recorded: none")
    else:
        lines.append(f"  Edits recorded: {len(info.edits)}")
        for k, edit in enumerate(info.edits, 1):
            where = "" if edit.source == "GLIDE Studio" else f" (from another program's {edit.source!r} text)"
            lines.append(f"  {k}. {edit.prompt or '(no prompt)'}{where}")
            for part in (edit.details(), edit.geometry()):
                if part:
                    lines.append("     " + " · ".join(part))
    for key, value in info.text.items():
        if key == "parameters" and any(e.source == "parameters" for e in info.edits):
            continue
        shown = " ".join(value.split())
        shown = shown if len(shown) <= 120 else f"{shown[:117]}… ({len(value)} characters)"
        lines.append(f"  {key}: {shown}")
    for note in info.notes:
        lines.append(f"  Note: {note}")
    return lines
