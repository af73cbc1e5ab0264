"""Shared helpers for the benchmark scripts (they print JSON; they are not tests)."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from glide_studio.core.model import GlideModel, build_model
from glide_studio.core.weights.released import released_options

REFERENCE_ENV = "GLIDE_REFERENCE_DIR"


def reference_dir() -> Path:
    """The GLIDE reference data, found as the tests find it (tests/reference_data.py):
    ``$GLIDE_REFERENCE_DIR``, else ``../shared/glide_reference`` beside the project."""
    candidates = [Path(os.environ[REFERENCE_ENV])] if os.environ.get(REFERENCE_ENV) else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "glide_reference")
    for folder in candidates:
        if (folder / "checkpoint_manifest.json").is_file():
            return folder
    looked = ", ".join(str(c) for c in candidates)
    raise SystemExit(f"GLIDE reference data not found (looked in {looked}); set {REFERENCE_ENV}")


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average": os.getloadavg()[0],
    }


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], *, device: torch.device, warmup: int = 1, repeat: int = 3) -> dict:
    """Median and best wall time of ``fn`` over ``repeat`` runs after ``warmup``."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "best_s": min(times), "runs": len(times)}


def matmul_gflops(*, device: torch.device, dtype: torch.dtype = torch.float32, n: int = 2048) -> float:
    """The machine's dense matmul rate, the yardstick for the models' achieved rate."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    repeat = 5 if device.type == "cpu" else 50
    timing = time_call(lambda: a @ b, device=device, warmup=2, repeat=repeat)
    return 2 * n**3 / timing["best_s"] / 1e9


def count_gflops(fn: Callable[[], object]) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def random_released_model(name: str, *, device: torch.device, dtype: torch.dtype) -> GlideModel:
    """A full-size model of a released checkpoint's shapes with random weights."""
    torch.manual_seed(0)
    with torch.device(device):
        model = build_model(released_options(name))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.02)
    return model.to(dtype).eval().requires_grad_(False)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float | None:
    """Resident memory now (Linux), memory-mapped weights that were touched included."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def emit(result: dict) -> None:
    print(json.dumps(result, indent=2))
