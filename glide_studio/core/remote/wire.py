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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..generation.backend import BackendInfo, Capabilities
from ..generation.events import Cancelled, Candidate, Event, Failed, Finished, Preview, Started
from ..generation.presets import RecommendedSampling
from ..generation.request import MAX_CANDIDATES, EditRequest, RequestError
from ..generation.settings_codec import request_from_settings, request_settings
from ..imaging.region import Box

__all__ = [
    "API_VERSION",
    "Limits",
    "WireError",
    "decode_picture",
    "encode_picture",
    "event_from_wire",
    "event_to_wire",
    "info_from_wire",
    "info_to_wire",
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
    notice = str(data.get("notice") or "")
    return BackendInfo(
        description=f"{data['description']} on {where}",
        device_label=f"{data['device']} at {host}",
        base_resolution=int(stages["base"]),
        upsample_resolution=int(upsample) if upsample else None,
        is_demo=bool(data["is_demo"]),
        remote=True,
        missing=tuple(str(m) for m in data.get("missing", ())),
        notice=f"The server at {where}: {notice}" if notice else "",
        sampling=sampling,
        capabilities=capabilities,
        precision=str(data.get("precision", "")),
        version=str(data.get("version", "")),
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
    raise TypeError(f"no wire form for {type(event).__name__}")


def event_from_wire(
    data: Mapping[str, Any], *, original: np.ndarray, candidates: Mapping[int, Candidate]
) -> Event:
    """Rebuild an event; ``candidates`` are those received so far (for Finished/Cancelled)."""
    kind = data.get("event")
    if kind == "started":
        return Started(
            stages=tuple(data["stages"]),
            steps=tuple(int(s) for s in data["steps"]),
            seeds=tuple(int(s) for s in data["seeds"]),
            box=Box(*data["box"]),
            prompt_truncated=bool(data.get("prompt_truncated", False)),
        )
    if kind == "preview":
        images = tuple(decode_picture(text, name="preview", max_pixels=1 << 24) for text in data["images"])
        return Preview(
            stage=str(data["stage"]),
            step=int(data["step"]),
            total=int(data["total"]),
            box=Box(*data["box"]),
            images=images,
            first=int(data.get("first", 0)),
        )
    if kind == "candidate":
        patch = decode_picture(
            data["patch"], name="candidate", max_pixels=original.shape[0] * original.shape[1]
        )
        return Candidate(
            index=int(data["index"]),
            seed=int(data["seed"]),
            box=Box(*data["box"]),
            patch=patch,
            original=original,
        )
    if kind in ("finished", "cancelled"):
        chosen = tuple(candidates[i] for i in data.get("candidates", sorted(candidates)) if i in candidates)
        cls = Finished if kind == "finished" else Cancelled
        return cls(candidates=chosen, seconds=float(data.get("seconds", 0.0)))
    if kind == "failed":
        return Failed(message=str(data.get("message", "the server reported a failure")))
    raise WireError(f"unknown event {kind!r} from the server")


def dumps_line(data: Mapping[str, Any]) -> bytes:
    """One NDJSON line."""
    return json.dumps(data, separators=(",", ":")).encode("utf-8") + b"\n"
