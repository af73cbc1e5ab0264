"""Choosing and loading the models an editing session runs on.

The released GLIDE inpainting models when their files are in the weights
folder; otherwise the small built-in demo model, so that the studio works
offline out of the box. The caller learns which it got and what is missing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..pipeline.inpaint import Inpainter, StageModel
from ..text.tokenizer import BPETokenizer, load_tokenizer
from ..weights.checkpoints import load_model_and_options
from ..weights.released import ReleasedFile, released_options
from ..weights.store import ModelStore, StoreError
from .devices import choose_device, compute_dtype, describe_device
from .optimize import optimize_for_inference

__all__ = ["DEMO_DIR", "EDITOR_FILES", "Engine", "EngineError", "load_demo", "load_engine"]

DEMO_DIR = Path(__file__).resolve().parents[3] / "resources" / "demo"
DEMO_MANIFEST = "demo_inpaint.json"
EDITOR_FILES = ("base-inpaint", "upsample-inpaint", "encoder", "bpe")
"""The released files the full editor uses."""
_REQUIRED = ("base-inpaint", "encoder", "bpe")

GET_WEIGHTS_HINT = (
    "For the released GLIDE models, run `glide-studio download` "
    "(about 3 GB) or use Models → Download in the app."
)


class EngineError(RuntimeError):
    """No usable model could be loaded; the message says why and what to do."""


@dataclass(frozen=True, eq=False)
class Engine:
    inpainter: Inpainter
    description: str
    device: torch.device
    is_demo: bool
    missing: tuple[ReleasedFile, ...]
    """Released editor files not present in the weights folder."""
    weights_folder: Path
    sampling: Mapping[str, Any] = field(default_factory=dict)
    """Recommended settings for this model (sampler, steps, guidance_scale), if any."""

    @property
    def device_label(self) -> str:
        return describe_device(self.device)


def _stage(
    path: Path,
    options: Mapping[str, Any] | None,
    *,
    name: str,
    variant: str,
    tokenizer: Any,
    device: torch.device,
) -> StageModel:
    """Load one model; a file that carries its own options (a fine-tuned or test model
    saved under a released name) is built from those, checked to be the right variant."""
    model, options = load_model_and_options(
        path, options, device=device, dtype=compute_dtype(device), variant=variant
    )
    optimize_for_inference(model)
    return StageModel(
        model=model,
        tokenizer=tokenizer,
        noise_schedule=str(options["noise_schedule"]),
        diffusion_steps=int(options.get("diffusion_steps", 1000)),
        name=name,
    )


def load_demo(*, device: torch.device, folder: Path = DEMO_DIR) -> tuple[Inpainter, dict[str, Any]]:
    """The built-in demo model and its manifest."""
    manifest_path = folder / DEMO_MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise EngineError(f"the built-in demo model is missing or damaged ({manifest_path}: {exc})") from exc
    options = manifest["options"]
    tokenizer = load_tokenizer(str(manifest.get("tokenizer", "bytes")))
    base = _stage(
        folder / manifest["weights"],
        options,
        name="demo",
        variant="base-inpaint",
        tokenizer=tokenizer,
        device=device,
    )
    return Inpainter(base=base), manifest


def _load_released(store: ModelStore, device: torch.device) -> Inpainter:
    tokenizer = BPETokenizer.from_folder(store.folder)
    base = _stage(
        store.path("base-inpaint"),
        released_options("base-inpaint"),
        name="base-inpaint",
        variant="base-inpaint",
        tokenizer=tokenizer,
        device=device,
    )
    upsampler = None
    if store.has("upsample-inpaint"):
        upsampler = _stage(
            store.path("upsample-inpaint"),
            released_options("upsample-inpaint"),
            name="upsample-inpaint",
            variant="upsample-inpaint",
            tokenizer=tokenizer,
            device=device,
        )
    return Inpainter(base=base, upsampler=upsampler)


def load_engine(
    *,
    weights_dir: str | Path | None = None,
    device: str | torch.device | None = None,
    demo: bool | None = None,
    environ: Mapping[str, str] = os.environ,
    demo_dir: Path = DEMO_DIR,
) -> Engine:
    """Load the released models if present (``demo=None``), or force one choice.

    ``demo=False`` fails with the store's message naming the missing files when
    the released models are absent; ``demo=True`` always uses the demo model.
    """
    target = choose_device(device)
    store = ModelStore.locate(weights_dir, environ=environ)
    missing = tuple(store.missing(EDITOR_FILES))
    usable = not any(f.name in _REQUIRED for f in missing)
    if demo is False and not usable:
        try:
            store.require(EDITOR_FILES)
        except StoreError as exc:
            raise EngineError(str(exc)) from exc
    if demo or not usable:
        inpainter, manifest = load_demo(device=target, folder=demo_dir)
        return Engine(
            inpainter=inpainter,
            description="built-in demo model (coloured shapes only)",
            device=target,
            is_demo=True,
            missing=missing,
            weights_folder=store.folder,
            sampling=dict(manifest.get("sampling", {})),
        )
    inpainter = _load_released(store, target)
    stages = " + ".join(s.name for s in (inpainter.base, inpainter.upsampler) if s is not None)
    return Engine(
        inpainter=inpainter,
        description=f"GLIDE (filtered) {stages}",
        device=target,
        is_demo=False,
        missing=missing,
        weights_folder=store.folder,
    )
