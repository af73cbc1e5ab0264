"""The remote backend's wire format: JSON requests, NDJSON event streams, pictures as PNG.

A request travels as ``{"settings": {...}, "pictures": {...}}``: the settings
are every non-picture field of ``EditRequest`` (stage settings nested), so a
field added to the request flows through without touching this module; the
pictures are every array field, base64 PNG. Nothing is pickled: a server
decodes only JSON and PNG, checks sizes before decoding pixels, and refuses
unknown fields. Events travel one JSON object per line.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import io
import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..generation.backend import BackendInfo, Capabilities
from ..generation.events import Cancelled, Candidate, Event, Failed, Finished, Preview, Queued, Started
from ..generation.presets import RecommendedSampling
from ..generation.request import MAX_CANDIDATES, EditRequest, RequestError
from ..generation.settings_codec import request_from_settings, request_settings
from ..imaging.region import Box

__all__ = [
    "API_VERSION",
    "MAX_JSON_DEPTH",
    "MAX_LINE_BYTES",
    "Limits",
    "WireError",
    "check_depth",
    "clean_text",
    "decode_picture",
    "encode_picture",
    "event_from_wire",
    "event_to_wire",
    "info_from_wire",
    "info_to_wire",
    "loads_checked",
    "request_from_wire",
    "request_to_wire",
]

API_VERSION = 1
"""Bumped when a change would break older clients; the paths carry it (``/v1/...``)."""

_REQUEST_KEYS = frozenset({"settings", "pictures"})


class WireError(ValueError):
    """A request the server refuses before any model sees it; ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, kw_only=True)
class Limits:
    """What one request may cost a server; announced by ``GET /v1/info``."""

    max_body_bytes: int = 64 * 1024 * 1024
    max_pixels: int = 16_777_216
    """Per picture (4096 × 4096)."""
    max_prompt_chars: int = 2000
    max_candidates: int = MAX_CANDIDATES
    max_steps: int = 1000
    """Per stage of a request."""

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Limits:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: int(v) for k, v in data.items() if k in known})


# -- pictures -------------------------------------------------------------------------


def encode_picture(array: np.ndarray, *, fmt: str = "PNG") -> str:
    """A uint8 (H, W[, 3|4]) or bool (H, W) array as base64 PNG, or lossless WebP for previews
    (exact pixels, smaller than PNG and quicker to encode at the fastest effort)."""
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    buffer = io.BytesIO()
    options: dict[str, Any] = (
        {"compress_level": 1}
        if fmt == "PNG"
        else {"lossless": True, "exact": True, "method": 0, "quality": 0}
    )
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format=fmt, **options)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_picture(text: Any, *, name: str, max_pixels: int) -> np.ndarray:
    """Base64 PNG/WebP to a uint8 array; the size is checked before any pixel is decoded."""
    if not isinstance(text, str):
        raise WireError(f"picture {name!r} must be a base64 string, got {type(text).__name__}")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise WireError(f"picture {name!r} is not valid base64") from None
    try:
        # Pillow refuses gigantic sizes itself (DecompressionBombError): that is a 413 too.
        image = Image.open(io.BytesIO(data))
        if image.format not in ("PNG", "WEBP"):
            raise WireError(f"picture {name!r} is {image.format}, not PNG")
        width, height = image.size
        if width * height > max_pixels:
            raise WireError(
                f"picture {name!r} is {width}×{height}, over this server's limit of {max_pixels} pixels", 413
            )
        image.load()
    except WireError:
        raise
    except Image.DecompressionBombError:
        raise WireError(
            f"picture {name!r} is far over this server's limit of {max_pixels} pixels", 413
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise WireError(f"picture {name!r} is not a readable PNG ({exc})") from None
    if image.mode not in ("L", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    return np.asarray(image)


# -- requests -------------------------------------------------------------------------


def _array_fields(request: EditRequest) -> dict[str, np.ndarray]:
    return {
        f.name: getattr(request, f.name)
        for f in dataclasses.fields(request)
        if isinstance(getattr(request, f.name), np.ndarray)
    }


def request_to_wire(request: EditRequest) -> dict[str, Any]:
    """The JSON body of ``POST /v1/edit``."""
    pictures = {
        name: {"png": encode_picture(array), "mask": bool(array.dtype == bool)}
        for name, array in _array_fields(request).items()
    }
    return {"settings": request_settings(request), "pictures": pictures}


def _check_types(settings: Mapping[str, Any]) -> None:
    """JSON types against the request's defaults, so that "5" is not taken for 5."""
    defaults: dict[str, Any] = {}
    for f in dataclasses.fields(EditRequest):
        if f.default is not dataclasses.MISSING:
            defaults[f.name] = f.default
    for name, value in settings.items():
        default = defaults.get(name)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif isinstance(default, str) or name == "prompt":
            ok = isinstance(value, str)
        else:
            ok = value is None or isinstance(value, str | int | float | bool | dict)
        if not ok:
            raise WireError(f"setting {name!r} has the wrong type ({type(value).__name__}: {value!r})")


def _decode_pictures(pictures: Any, limits: Limits) -> dict[str, np.ndarray]:
    if not isinstance(pictures, Mapping):
        raise WireError("'pictures' must be an object of named PNG pictures")
    names = {f.name for f in dataclasses.fields(EditRequest)}
    unknown = sorted(set(pictures) - names)
    if unknown:
        raise WireError(f"unknown pictures {', '.join(map(repr, unknown))}")
    out = {}
    for name, entry in pictures.items():
        if not isinstance(entry, Mapping) or set(entry) - {"png", "mask"} or "png" not in entry:
            raise WireError(f"picture {name!r} must be {{'png': base64, 'mask': bool}}")
        array = decode_picture(entry["png"], name=name, max_pixels=limits.max_pixels)
        if entry.get("mask"):
            array = (array if array.ndim == 2 else array[..., 0]) >= 128
        elif array.ndim == 2 and name == "image":
            array = np.repeat(array[..., None], 3, axis=2)
        elif array.ndim == 3 and array.shape[2] == 4 and name == "image":
            array = np.ascontiguousarray(array[..., :3])
        out[name] = array
    return out


def request_from_wire(payload: Any, *, limits: Limits) -> EditRequest:
    """Check and rebuild a request; every problem is a ``WireError`` with its HTTP status."""
    if not isinstance(payload, Mapping):
        raise WireError("the request must be a JSON object with 'settings' and 'pictures'")
    unknown = sorted(set(payload) - _REQUEST_KEYS)
    if unknown or not set(payload) >= _REQUEST_KEYS:
        raise WireError(
            f"the request must hold exactly 'settings' and 'pictures' (got {', '.join(sorted(payload))})"
        )
    settings = payload["settings"]
    if not isinstance(settings, Mapping):
        raise WireError("'settings' must be a JSON object")
    _check_types(settings)
    prompt = settings.get("prompt", "")
    if len(prompt) > limits.max_prompt_chars:
        raise WireError(
            f"the prompt has {len(prompt)} characters; this server takes {limits.max_prompt_chars}"
        )
    candidates = settings.get("candidates", 1)
    if candidates > limits.max_candidates:
        raise WireError(f"{candidates} candidates asked; this server makes at most {limits.max_candidates}")
    pictures = _decode_pictures(payload["pictures"], limits)
    both = sorted(set(pictures) & set(settings))
    if both:
        raise WireError(f"{', '.join(map(repr, both))} given as both a setting and a picture")
    if "image" not in pictures or "mask" not in pictures:
        raise WireError("the request needs both an 'image' and a 'mask' picture")
    try:
        return request_from_settings(settings, **pictures)
    except RequestError as exc:
        raise WireError(str(exc)) from None


# -- what a server runs ---------------------------------------------------------------


def info_to_wire(info: BackendInfo, *, limits: Limits, auth: bool, version: str) -> dict[str, Any]:
    """``GET /v1/info``: what runs here and what a request may cost."""
    caps = info.capabilities
    return {
        "api": API_VERSION,
        "version": version,
        "description": info.description,
        "device": info.device_label,
        "is_demo": info.is_demo,
        "auto_detail": info.auto_detail,
        "missing": list(info.missing),
        "sampling": info.sampling.to_mapping() if info.sampling is not None else {},
        "notice": info.notice,
        "stages": {"base": info.base_resolution, "upsample": info.upsample_resolution},
        "capabilities": dataclasses.asdict(caps),
        "precision": info.precision,
        "limits": limits.as_dict(),
        "auth": auth,
    }


def info_from_wire(data: Mapping[str, Any], *, where: str, host: str) -> BackendInfo:
    """The server's description as this client shows it (``where``: the server's address).

    A server from before capabilities were announced could not outpaint."""
    stages = data["stages"]
    upsample = stages.get("upsample")
    caps = data.get("capabilities")
    known = {f.name for f in dataclasses.fields(Capabilities)}
    capabilities = (
        Capabilities(**{k: bool(v) for k, v in caps.items() if k in known})
        if isinstance(caps, Mapping)
        else Capabilities(outpaint=False)
    )
    try:
        sampling = RecommendedSampling.from_mapping(data["sampling"]) if data.get("sampling") else None
    except RequestError as exc:
        raise ValueError(f"its sampling is malformed ({exc})") from None
    notice = clean_text(data.get("notice") or "")
    return BackendInfo(
        description=f"{clean_text(data['description'], limit=200)} on {where}",
        device_label=f"{clean_text(data['device'], limit=200)} at {host}",
        base_resolution=int(stages["base"]),
        upsample_resolution=int(upsample) if upsample else None,
        is_demo=bool(data["is_demo"]),
        auto_detail=bool(data.get("auto_detail", False)),
        remote=True,
        missing=tuple(clean_text(m, limit=200) for m in data.get("missing", ())[:64]),
        notice=f"The server at {where}: {notice}" if notice else "",
        sampling=sampling,
        capabilities=capabilities,
        precision=clean_text(data.get("precision", ""), limit=200),
        version=clean_text(data.get("version", ""), limit=40),
    )


# -- events ---------------------------------------------------------------------------


def _box(box: Box) -> list[int]:
    return [box.left, box.top, box.right, box.bottom]


def event_to_wire(event: Event, *, preview_format: str = "WEBP") -> dict[str, Any]:
    """One event as a JSON object; a ``Finished`` or ``Cancelled`` names its candidates by index."""
    if isinstance(event, Started):
        return {
            "event": "started",
            "stages": list(event.stages),
            "steps": list(event.steps),
            "seeds": list(event.seeds),
            "box": _box(event.box),
            "prompt_truncated": event.prompt_truncated,
        }
    if isinstance(event, Preview):
        images = [encode_picture(image, fmt=preview_format) for image in event.images]
        return {
            "event": "preview",
            "stage": event.stage,
            "step": event.step,
            "total": event.total,
            "box": _box(event.box),
            "images": images,
            "first": event.first,
        }
    if isinstance(event, Candidate):
        return {
            "event": "candidate",
            "index": event.index,
            "seed": event.seed,
            "box": _box(event.box),
            "patch": encode_picture(event.patch),
        }
    if isinstance(event, Finished | Cancelled):
        kind = "finished" if isinstance(event, Finished) else "cancelled"
        return {"event": kind, "seconds": event.seconds, "candidates": [c.index for c in event.candidates]}
    if isinstance(event, Failed):
        return {"event": "failed", "message": event.message}
    if isinstance(event, Queued):
        return {"event": "queued", "position": event.position}
    raise TypeError(f"no wire form for {type(event).__name__}")


MAX_LINE_BYTES = 64 * 2**20
"""The longest event line a client reads (a preview of 16 candidates is a few megabytes)."""
MAX_JSON_DEPTH = 32
"""Events and requests are a few levels deep; anything deeper is refused, not parsed further."""
MAX_MESSAGE_CHARS = 2000


def check_depth(value: Any, *, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse JSON nested deeper than ``limit`` (iteratively: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise WireError(f"the JSON is nested more than {limit} levels deep")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def loads_checked(data: bytes | str, *, what: str = "the JSON") -> Any:
    """``json.loads`` that refuses deep nesting and non-finite numbers with a ``WireError``."""
    try:
        value = json.loads(data, parse_constant=_refuse_constant)
    except RecursionError:
        raise WireError(f"{what} is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError(f"{what} is not valid JSON ({exc})") from None
    check_depth(value)
    return value


def _refuse_constant(text: str) -> float:
    raise ValueError(f"{text} is not a number")


def clean_text(value: Any, *, limit: int = MAX_MESSAGE_CHARS) -> str:
    """A server's text made safe to print or show: control and format characters escaped
    (no terminal escapes, no bidi tricks), and at most ``limit`` characters."""
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return "".join(_escape(ch) for ch in text)


def _escape(ch: str) -> str:
    if unicodedata.category(ch) not in _UNSAFE:
        return ch
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"


_UNSAFE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _int(data: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value = data[key]
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise WireError(f"{key!r} must be a whole number from {low} to {high}, got {value!r}")
    return value


def _wire_box(value: Any, shape: tuple[int, ...], *, inside: bool) -> Box:
    """A box from the server: four integers, not empty, inside the picture (``inside``)
    or at least overlapping it (a square region may reach past the picture's edge)."""
    if (
        not isinstance(value, list)
        or len(value) != 4
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise WireError(f"a box must be four whole numbers, got {clean_text(value, limit=80)}")
    box = Box(*value)
    height, width = shape[:2]
    if box.width <= 0 or box.height <= 0:
        raise WireError(f"the box {value} is empty")
    if inside:
        ok = box.left >= 0 and box.top >= 0 and box.right <= width and box.bottom <= height
    else:
        span = 4 * max(width, height)
        ok = box.left < width and box.top < height and box.right > 0 and box.bottom > 0
        ok = ok and box.width <= span and box.height <= span
    if not ok:
        raise WireError(f"the box {value} is outside the {width}×{height} picture")
    return box


def event_from_wire(
    data: Mapping[str, Any],
    *,
    original: np.ndarray,
    candidates: Mapping[int, Candidate],
    asked: int = MAX_CANDIDATES,
) -> Event | None:
    """Rebuild and check an event (``candidates``: those received so far; ``asked``: how many were
    requested). A malformed event is a ``WireError``; an event type this client does not know is
    None, to be skipped (a newer server may say more)."""
    if not isinstance(data, Mapping):
        raise WireError(f"an event must be a JSON object, got {type(data).__name__}")
    kind = data.get("event")
    decode = _DECODERS.get(kind) if isinstance(kind, str) else None
    if decode is None:
        return None
    try:
        return decode(data, original, candidates, asked)
    except KeyError as exc:
        raise WireError(f"the {kind!r} event lacks {exc}") from None
    except (TypeError, ValueError) as exc:
        if isinstance(exc, WireError):
            raise
        raise WireError(f"the {kind!r} event is malformed ({clean_text(exc, limit=200)})") from None


MAX_STAGES = 65_536
"""The most stage entries a ``started`` event may list (tiles × squares × candidates)."""


def _started(data, original, candidates, asked) -> Started:
    stages, steps, seeds = data["stages"], data["steps"], data["seeds"]
    if not (isinstance(stages, list) and isinstance(steps, list) and isinstance(seeds, list)):
        raise WireError("'stages', 'steps' and 'seeds' must be lists")
    # Outpainting's squares and the detail pass's tiles repeat stages: thousands are legitimate.
    if not 0 < len(stages) == len(steps) <= MAX_STAGES or not all(isinstance(s, str) for s in stages):
        raise WireError(
            f"'stages' and 'steps' must be lists of the same length, got {len(stages)} and {len(steps)}"
        )
    if not 0 < len(seeds) <= asked:
        raise WireError(f"{len(seeds)} seeds for {asked} candidates asked")
    return Started(
        stages=tuple(clean_text(s, limit=40) for s in stages),
        steps=tuple(_int({"steps": s}, "steps", 0, 100_000) for s in steps),
        seeds=tuple(_int({"seed": s}, "seed", -(2**63), 2**64) for s in seeds),
        box=_wire_box(data["box"], original.shape, inside=False),
        prompt_truncated=bool(data.get("prompt_truncated", False)),
    )


def _preview(data, original, candidates, asked) -> Preview:
    texts = data["images"]
    first = _int(data, "first", 0, asked - 1) if "first" in data else 0
    if not isinstance(texts, list) or not 0 < len(texts) <= asked - first:
        count = len(texts) if isinstance(texts, list) else "?"
        raise WireError(f"a preview of {count} images for {asked} candidates asked")
    images = []
    for text in texts:
        image = decode_picture(text, name="preview", max_pixels=1 << 22)
        if image.ndim != 3 or image.shape[2] not in (3, 4):
            raise WireError(f"a preview must be RGB or RGBA, got shape {image.shape}")
        images.append(image)
    total = _int(data, "total", 1, 100_000)
    return Preview(
        stage=clean_text(data["stage"], limit=40),
        step=_int(data, "step", 0, total),
        total=total,
        box=_wire_box(data["box"], original.shape, inside=False),
        images=tuple(images),
        first=first,
    )


def _candidate(data, original, candidates, asked) -> Candidate:
    index = _int(data, "index", 0, asked - 1)
    if index in candidates:
        raise WireError(f"candidate {index} arrived twice")
    box = _wire_box(data["box"], original.shape, inside=True)
    patch = decode_picture(data["patch"], name="candidate", max_pixels=box.width * box.height)
    expected = (box.height, box.width, 3)
    if patch.shape != expected:
        raise WireError(f"candidate {index}'s patch is {patch.shape}, its box needs {expected}")
    seed = data["seed"]
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise WireError(f"candidate {index}'s seed is not a whole number")
    return Candidate(index=index, seed=seed, box=box, patch=patch, original=original)


def _ended(data, original, candidates, asked) -> Finished | Cancelled:
    indices = data.get("candidates", sorted(candidates))
    if not isinstance(indices, list) or len(indices) > asked:
        raise WireError("'candidates' must list at most as many indices as were asked")
    missing = [i for i in indices if not isinstance(i, int) or i not in candidates]
    if missing:
        raise WireError(f"the run names candidates it never sent: {clean_text(missing, limit=80)}")
    seconds = data.get("seconds", 0.0)
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not 0 <= seconds < 1e9:
        raise WireError(f"'seconds' is not a duration: {clean_text(seconds, limit=40)}")
    cls = Finished if data["event"] == "finished" else Cancelled
    return cls(candidates=tuple(candidates[i] for i in indices), seconds=float(seconds))


def _queued(data, original, candidates, asked) -> Queued:
    return Queued(position=_int(data, "position", 1, 10**6))


def _failed(data, original, candidates, asked) -> Failed:
    return Failed(message=clean_text(data.get("message") or "the server reported a failure"))


_DECODERS = {
    "queued": _queued,
    "started": _started,
    "preview": _preview,
    "candidate": _candidate,
    "finished": _ended,
    "cancelled": _ended,
    "failed": _failed,
}


def dumps_line(data: Mapping[str, Any]) -> bytes:
    """One NDJSON line."""
    return json.dumps(data, separators=(",", ":")).encode("utf-8") + b"\n"
