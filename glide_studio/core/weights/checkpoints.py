"""Loading checkpoint files safely, with errors that say what is wrong with which file."""

from __future__ import annotations

import math
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..imaging.safe_write import atomic_write
from ..model import GlideModel, ModelConfig, OptionsError, build_model

__all__ = [
    "CheckpointError",
    "check_state_dict",
    "check_weights",
    "compare_shapes",
    "load_model",
    "load_model_and_options",
    "read_checkpoint",
    "read_state_dict",
    "save_checkpoint",
]

_FIRST_CONV = "input_blocks.0.0.weight"
_VARIANT_BY_INPUT_CHANNELS = {3: "base", 7: "base-inpaint", 6: "upsample", 10: "upsample-inpaint"}


class CheckpointError(ValueError):
    """A checkpoint file cannot be used; the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_MAGIC = b"\x80"


def _precheck(path: Path) -> bool:
    """Reject files that cannot be checkpoints before unpickling; True for the zip format."""
    if not path.is_file():
        raise CheckpointError(path, "file not found")
    try:
        with path.open("rb") as f:
            head = f.read(256)
    except OSError as exc:
        raise CheckpointError(path, f"cannot be read: {exc.strerror or exc}") from exc
    if not head:
        raise CheckpointError(path, "the file is empty")
    if head.lstrip().lower().startswith((b"<!doctype html", b"<html", b"<?xml", b"<head")):
        raise CheckpointError(
            path, "not a checkpoint: it is a web page (an error page saved instead of the download?)"
        )
    if head.startswith(_ZIP_MAGIC):
        if not zipfile.is_zipfile(path):
            raise CheckpointError(path, "the file is truncated or corrupt (incomplete download?)")
        return True
    if not head.startswith(_PICKLE_MAGIC):
        raise CheckpointError(path, "not a PyTorch checkpoint (unrecognised file format)")
    return False


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read a state dict from a released checkpoint or one written by ``save_checkpoint``.

    Memory-maps files in the zip format, so the weights are not copied into
    memory before they are needed. Loads tensors only (``weights_only``).
    """
    return read_checkpoint(path)[0]


def read_checkpoint(path: str | Path) -> tuple[dict[str, Tensor], dict[str, Any] | None]:
    """The state dict, and the model options when the file carries them (ours do,
    the released files do not)."""
    path = Path(path)
    is_zip = _precheck(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=is_zip)
    except Exception as exc:  # torch raises many types for damaged files
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise CheckpointError(path, f"the file is truncated or corrupt ({detail})") from exc
    options = None
    if isinstance(data, Mapping) and isinstance(data.get("state_dict"), Mapping):
        if isinstance(data.get("options"), Mapping):
            options = dict(data["options"])
        data = data["state_dict"]
    if not isinstance(data, Mapping) or not data:
        raise CheckpointError(path, "does not hold model weights (no state dict inside)")
    bad = [k for k, v in data.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if bad:
        raise CheckpointError(path, f"does not hold model weights (entry {bad[0]!r} is not a tensor)")
    return dict(data), options


def _guess_variant(state_dict: Mapping[str, Tensor]) -> str | None:
    first = state_dict.get(_FIRST_CONV)
    if first is None or first.dim() != 4:
        return None
    return _VARIANT_BY_INPUT_CHANNELS.get(int(first.shape[1]))


def compare_shapes(
    path: str | Path, state_dict: Mapping[str, Tensor], expected: Mapping[str, tuple[int, ...]]
) -> None:
    """Raise a ``CheckpointError`` unless the keys and shapes are exactly ``expected``."""
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    wrong = [
        f"{k} is {tuple(state_dict[k].shape)}, the model needs {tuple(shape)}"
        for k, shape in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(shape)
    ]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
    if wrong:
        parts.append(f"{len(wrong)} wrong shapes (e.g. {wrong[0]})")
    if parts:
        raise CheckpointError(path, "does not match the model: " + "; ".join(parts))


def check_state_dict(path: str | Path, state_dict: Mapping[str, Tensor], model: torch.nn.Module) -> None:
    """Raise a ``CheckpointError`` unless keys and shapes match the model exactly."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    try:
        compare_shapes(path, state_dict, expected)
    except CheckpointError as exc:
        config = getattr(model, "config", None)
        found = _guess_variant(state_dict)
        if isinstance(config, ModelConfig) and found and found != config.variant:
            problem = (
                f"{exc.problem}. It looks like the {found!r} checkpoint, but {config.variant!r} was expected"
            )
            raise CheckpointError(path, problem) from None
        raise


def _is_constant(tensor: Tensor) -> bool:
    """Every element equal; a strided sample settles almost every real tensor without a full pass."""
    flat = tensor.reshape(-1)
    sample = flat[:: max(1, flat.numel() // 1024)]
    if bool((sample != sample[0]).any()):
        return False
    lo, hi = torch.aminmax(flat)
    return bool(lo == hi)


MAX_WEIGHT_RMS = 1e3
"""Above this root-mean-square a tensor is not a trained weight but corruption (GLIDE's are below 10)."""


def check_weights(path: str | Path, state_dict: Mapping[str, Tensor]) -> None:
    """Refuse weights that cannot be a trained model: NaN or infinite values, every weight
    constant (e.g. all zero), most weight matrices constant, or implausibly large layers.

    Right keys and shapes do not make a usable file: a zero-filled or corrupted one
    would otherwise load and produce noise. One pass over each tensor.
    """
    matrices = constant = 0
    for key, tensor in state_dict.items():
        if not tensor.is_floating_point() or tensor.numel() == 0:
            continue
        rms = float(torch.linalg.vector_norm(tensor, dtype=torch.float32)) / tensor.numel() ** 0.5
        if not math.isfinite(rms):
            bad = "NaN" if bool(torch.isnan(tensor).any()) else "infinite or overflowing"
            raise CheckpointError(path, f"holds {bad} values in {key} (the file is corrupt)")
        if rms > MAX_WEIGHT_RMS:
            raise CheckpointError(path, f"{key} has implausibly large weights (RMS {rms:.3g}; corrupt file?)")
        if tensor.dim() >= 2:
            matrices += 1
            constant += _is_constant(tensor)
    if matrices and constant * 2 > matrices:
        what = (
            "every weight matrix is constant"
            if constant == matrices
            else f"{constant} of {matrices} weight matrices are constant"
        )
        raise CheckpointError(path, f"{what} (e.g. all zero): not trained weights")


def load_model(
    path: str | Path,
    options: Mapping[str, Any] | None = None,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    variant: str | None = None,
) -> GlideModel:
    """Build the model the options describe and load ``path`` into it strictly.

    ``options`` default to those stored in the file (files written by
    ``save_checkpoint``); the released files carry none, so their options must
    be given. ``variant`` (e.g. "base-inpaint") is checked when given.
    The caller chooses ``device`` and ``dtype`` (``runtime.devices`` knows the
    machine); the model is returned in eval mode.
    """
    return load_model_and_options(path, options, device=device, dtype=dtype, variant=variant)[0]


def load_model_and_options(
    path: str | Path,
    options: Mapping[str, Any] | None = None,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    variant: str | None = None,
    check_values: bool = True,
) -> tuple[GlideModel, dict[str, Any]]:
    """``load_model``, also returning the options used (the file's own, if it has them).

    ``check_values`` refuses weights that cannot be trained ones (``check_weights``).
    """
    target = torch.device(device)
    state_dict, stored = read_checkpoint(path)
    chosen = stored if stored is not None else options
    if chosen is None:
        raise CheckpointError(path, "the file does not say which model it holds, and no options were given")
    if not isinstance(chosen, Mapping):
        raise CheckpointError(path, "its model options are not a table of settings")
    try:
        found = ModelConfig.from_options(chosen).variant
    except OptionsError as exc:
        raise CheckpointError(path, f"its model options are malformed: {_one_line(exc)}") from None
    if variant is not None and found != variant:
        raise CheckpointError(path, f"holds the {found!r} model, but {variant!r} was expected")
    with torch.device("meta"):
        model = build_model(chosen)
    check_state_dict(path, state_dict, model)
    if check_values:
        check_weights(path, state_dict)
    model.load_state_dict(state_dict, strict=True, assign=True)
    model = model.to(device=target, dtype=dtype)
    model.requires_grad_(False)
    return model.eval(), dict(chosen)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:199] + "…"


def save_checkpoint(
    path: str | Path, model: torch.nn.Module, *, options: Mapping[str, Any] | None = None, **extra: Any
) -> None:
    """Write a state dict atomically, with the model's options (so ``load_model``
    needs nothing else) and any plain extra data."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if options is not None:
        extra["options"] = dict(options)
    payload = {"state_dict": model.state_dict(), **extra} if extra else model.state_dict()
    with atomic_write(path) as handle:
        torch.save(payload, handle)
