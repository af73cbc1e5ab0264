"""Which device and precision to run on."""

from __future__ import annotations

from pathlib import Path

import torch

from .precision import PRECISIONS, Precision

__all__ = [
    "BF16_BY_DEFAULT",
    "PRECISIONS",
    "DeviceError",
    "Precision",
    "choose_device",
    "choose_dtype",
    "compute_dtype",
    "cpu_flags",
    "describe_device",
    "native_bf16",
]

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


class DeviceError(ValueError):
    """The requested device does not exist on this machine."""


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def choose_device(name: str | torch.device | None = None) -> torch.device:
    """``None``/``"auto"``: CUDA, then Apple MPS, then CPU. Otherwise the named device,
    checked to exist."""
    if isinstance(name, torch.device):
        name = str(name)
    if name is None or name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise DeviceError(f"unknown device {name!r} (use auto, cpu, cuda, cuda:N or mps)") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError("CUDA was requested but no CUDA GPU is available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(
                f"{name} was requested but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
    elif device.type == "mps" and not _mps_available():
        raise DeviceError("Apple MPS was requested but is not available")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"unsupported device {name!r} (use auto, cpu, cuda, cuda:N or mps)")
    return device


def compute_dtype(device: torch.device) -> torch.dtype:
    """Half precision where it is fast and safe (CUDA), float32 elsewhere (training, tests)."""
    return torch.float16 if device.type == "cuda" else torch.float32


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags as the kernel lists them (empty where there is no cpuinfo)."""
    try:
        text = cpuinfo.read_text(encoding="ascii", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def native_bf16(flags: frozenset[str] | None = None, capability: str | None = None) -> bool:
    """Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX-BF16) and torch uses
    its AVX-512 kernels: then a bf16 step of the full-size models takes about a third
    of a float32 one (README, Performance); without native support it is emulated."""
    flags = cpu_flags() if flags is None else flags
    capability = torch.backends.cpu.get_cpu_capability() if capability is None else capability
    return bool(flags & _NATIVE_BF16_FLAGS) and capability.upper().startswith("AVX512")


BF16_BY_DEFAULT = frozenset({"upsample-inpaint"})
"""Models that ``auto`` runs in bfloat16 on CPUs with native bf16: those whose whole
default-preset edit stays within 1 level (0–255, mean over the hole) of float32
with the same noise (``benchmarks/precision_closeness.py``; the figures are in the
README's performance section). The base stage does not, so it stays in float32."""


def choose_dtype(device: torch.device, precision: str = "auto", *, variant: str | None = None) -> torch.dtype:
    """The dtype a model (``variant``, e.g. "upsample-inpaint") runs in. ``auto``:
    float16 on CUDA; on CPUs with native bf16, bfloat16 for the models in
    ``BF16_BY_DEFAULT``; float32 elsewhere. Norms run in float32 whatever the choice."""
    if precision not in PRECISIONS:
        raise DeviceError(f"unknown precision {precision!r} (use {', '.join(PRECISIONS)})")
    if precision != "auto":
        return _DTYPES[precision]
    if device.type == "cuda":
        return torch.float16
    if device.type == "cpu" and variant in BF16_BY_DEFAULT and native_bf16():
        return torch.bfloat16
    return torch.float32


def describe_device(device: torch.device) -> str:
    """A short human description, e.g. for a status bar."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"GPU: {torch.cuda.get_device_name(index)}"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads)"
