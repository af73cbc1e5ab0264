"""The files shipped inside the package: the demo model, sample images, icons.

Found with ``importlib.resources`` so that they are there in a wheel install
as well as in a checkout. No torch here: ``inpaint --help`` reads the demo
model's recommended settings from its manifest without loading a model.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = [
    "DEMO_MANIFEST",
    "DEMO_UPSAMPLER_MANIFEST",
    "BundleError",
    "demo_folder",
    "read_demo_manifest",
    "read_demo_upsampler_manifest",
    "resource",
]

DEMO_MANIFEST = "demo_inpaint.json"
DEMO_UPSAMPLER_MANIFEST = "demo_upsample.json"


class BundleError(RuntimeError):
    """A file that should ship with the package is missing or damaged (a broken install)."""


def resource(*parts: str) -> Traversable:
    """``glide_studio/resources/<parts...>`` as a Traversable (a real folder in normal installs)."""
    return resources.files("glide_studio").joinpath("resources", *parts)


def demo_folder() -> Traversable:
    return resource("demo")


def read_demo_manifest(folder: Traversable | None = None) -> dict[str, Any]:
    """The demo model's manifest: weights file name, options, tokenizer, recommended sampling."""
    return _read_manifest((folder or demo_folder()) / DEMO_MANIFEST)


def read_demo_upsampler_manifest(folder: Traversable | None = None) -> dict[str, Any] | None:
    """The demo upsampler's manifest, or None when the package has none (the demo then
    runs its base stage alone)."""
    path = (folder or demo_folder()) / DEMO_UPSAMPLER_MANIFEST
    return _read_manifest(path) if path.is_file() else None


def _read_manifest(path: Traversable) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"the built-in demo model is missing or damaged ({path}: {exc})") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("options"), dict):
        raise BundleError(f"the built-in demo model's manifest {path} has no model options")
    return manifest
