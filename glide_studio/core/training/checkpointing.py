"""Training checkpoints (resumable), initial weights (fine-tuning) and exported models."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..imaging.safe_write import atomic_write
from ..weights.checkpoints import CheckpointError, check_state_dict, read_state_dict

__all__ = [
    "FIRST_CONV",
    "TRAINING_FORMAT",
    "atomic_save",
    "expand_input_channels",
    "init_weights_from",
    "read_training_state",
    "sha256_of",
    "write_weights",
]

TRAINING_FORMAT = "glide-studio-training/1"
FIRST_CONV = "input_blocks.0.0.weight"


def atomic_save(path: Path, payload: Any) -> None:
    """Write to a temporary file, flush it to disk, then rename over ``path``.

    An interruption at any moment leaves either the old file or the new one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:  # a fresh exclusive temporary file: never through a planted link
        torch.save(payload, f)


def read_training_state(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint written by the trainer (tensors and plain data only)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged files
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise CheckpointError(path, f"the file is truncated or corrupt ({detail})") from exc
    if not isinstance(state, dict) or state.get("format") != TRAINING_FORMAT:
        raise CheckpointError(path, "not a training checkpoint written by glide-studio train")
    return state


def expand_input_channels(state_dict: Mapping[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
    """Give a checkpoint's first convolution the model's extra input channels, zeroed.

    This is how the paper turns a text-to-image model into an inpainting one:
    the new channels (known image, mask) start with zero weights, so the
    expanded model computes exactly what the original did until it learns to
    use them.
    """
    out = dict(state_dict)
    old = out.get(FIRST_CONV)
    target = model.state_dict().get(FIRST_CONV)
    if old is None or target is None or old.shape == target.shape:
        return out
    if old.shape[0] != target.shape[0] or old.shape[2:] != target.shape[2:] or old.shape[1] > target.shape[1]:
        return out  # not an expansion; the strict check will explain the mismatch
    grown = torch.zeros(target.shape, dtype=old.dtype)
    grown[:, : old.shape[1]] = old
    out[FIRST_CONV] = grown
    return out


def init_weights_from(path: str | Path, model: nn.Module) -> str:
    """Load starting weights into ``model``; returns a short description of what was loaded.

    Accepts a released or exported model file, or a training checkpoint (its EMA
    weights). A checkpoint with fewer input channels is expanded with zeros.
    """
    path = Path(path)
    try:
        state = read_training_state(path)
        weights: Mapping[str, Tensor] = state["ema"]
        what = f"EMA weights of a training checkpoint at step {state.get('step')}"
    except CheckpointError:
        weights = read_state_dict(path)
        what = "model weights"
    expanded = expand_input_channels(weights, model)
    check_state_dict(path, expanded, model)
    reference = model.state_dict()
    model.load_state_dict({k: v.to(reference[k].dtype) for k, v in expanded.items()}, strict=True)
    if expanded[FIRST_CONV].shape != weights[FIRST_CONV].shape:
        added = expanded[FIRST_CONV].shape[1] - weights[FIRST_CONV].shape[1]
        what += f", {added} zero-initialised input channels added"
    return what


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_weights(path: Path, state_dict: Mapping[str, Tensor], *, half: bool = True) -> str:
    """Write a standalone model file (float16 to halve its size); returns its SHA-256.

    ``glide_studio.core.weights.checkpoints.load_model`` reads it and converts to the
    dtype it runs in.
    """
    weights = {
        k: (v.detach().to("cpu", torch.float16) if half and v.is_floating_point() else v.detach().cpu())
        for k, v in state_dict.items()
    }
    atomic_save(path, {k: v.contiguous().clone() for k, v in weights.items()})
    return sha256_of(path)
