"""A request's settings as plain JSON data, and back.

Project files, autosaves and PNG edit records store every setting of the
request that made an edit, so that the edit can be regenerated exactly. The
pictures (image, mask, sketch) are stored beside the settings as images, not
here. Unknown keys mean a newer program wrote the data: refused, not dropped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..imaging.region import Region
from .request import EditRequest, RequestError, StageSettings

__all__ = ["ARRAY_FIELDS", "request_from_settings", "request_settings"]

ARRAY_FIELDS = frozenset(f.name for f in dataclasses.fields(EditRequest) if f.name in ("image", "mask"))
"""Fields that hold pictures; any other ndarray-valued field is treated the same way."""


def _is_array_field(request: EditRequest, name: str) -> bool:
    return name in ARRAY_FIELDS or isinstance(getattr(request, name), np.ndarray)


def request_settings(request: EditRequest) -> dict[str, Any]:
    """Every field that is not a picture, as JSON-ready values."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(request):
        if _is_array_field(request, f.name):
            continue
        value = getattr(request, f.name)
        if isinstance(value, StageSettings):
            value = {"sampler": value.sampler, "steps": value.steps}
        elif isinstance(value, Region):
            value = {"left": value.left, "top": value.top, "size": value.size}
        elif value is not None and not isinstance(value, str | int | float | bool):
            raise TypeError(f"request field {f.name!r} holds {type(value).__name__}, which has no JSON form")
        out[f.name] = value
    return out


def _region(value: Any) -> Region | None:
    """A recorded generation area: null (automatic) or {left, top, size}."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) != {"left", "top", "size"}:
        raise RequestError("the recorded generation area must be left, top and size")
    try:
        return Region(left=value["left"], top=value["top"], size=value["size"])
    except ValueError as exc:
        raise RequestError(str(exc)) from None


def request_from_settings(
    settings: Mapping[str, Any], *, image: np.ndarray, mask: np.ndarray, **pictures: Any
) -> EditRequest:
    """Rebuild a request; raises ``RequestError`` for unknown or malformed settings."""
    fields = {f.name: f for f in dataclasses.fields(EditRequest)}
    unknown = sorted(set(settings) - set(fields))
    if unknown:
        raise RequestError(
            f"unknown request settings {', '.join(unknown)} (written by a newer GLIDE Studio?)"
        )
    values: dict[str, Any] = {}
    for name, value in settings.items():
        if name == "region":
            values[name] = _region(value)
            continue
        default = (
            fields[name].default_factory if fields[name].default_factory is not dataclasses.MISSING else None
        )
        stage_like = isinstance(value, Mapping) or (
            default is not None and isinstance(default(), StageSettings)
        )
        if stage_like:
            if not isinstance(value, Mapping):
                raise RequestError(f"request setting {name!r} must be a sampler and steps")
            value = StageSettings(sampler=str(value.get("sampler", "")), steps=str(value.get("steps", "")))
        values[name] = value
    try:
        return EditRequest(image=image, mask=mask, **pictures, **values)
    except TypeError as exc:
        raise RequestError(f"malformed request settings: {exc}") from None
