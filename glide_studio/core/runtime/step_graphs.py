"""The denoising step without launch overhead: CUDA graphs per batch size, optionally compiled.

A GLIDE step on a fast GPU is launch-bound: the base model's step issues about a
thousand small kernels whose launches take longer than their arithmetic. A CUDA
graph records one step's kernels once and replays them with one launch. Graphs
need fixed shapes and fixed memory, so one is captured per batch size while the
studio prepares a run (``LocalBackend.prepare``, while the user types), from its
own static inputs; each step then copies x_t and t into them (and the request's
conditioning once per request), replays, and returns a copy of the output.

Everything is guarded: only CUDA models get graphs (elsewhere nothing changes),
a shape without a graph runs the ordinary (eager) step, and a capture that fails
is remembered and never retried, so the step falls back to the eager path.
``torch.compile`` is optional (``StepOptions.compile``): it compiles the step
before capturing it, is paid in preparation only (never in a run) and uses
inductor's on-disk cache, and it is kept for a batch size only when its replay
measures faster than the plain graph's.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..model import Conditioning, GlideModel, TextEncoding

__all__ = [
    "COMPILE_CACHE_ENV",
    "COMPILE_ENV",
    "GRAPHS_ENV",
    "Capture",
    "StepGraphs",
    "StepOptions",
    "cuda_graph_capture",
    "install_step_graphs",
]

log = logging.getLogger(__name__)

GRAPHS_ENV = "GLIDE_STUDIO_CUDA_GRAPHS"
"""Set to 0 to run every step eagerly (the graphs' A/B switch)."""
COMPILE_ENV = "GLIDE_STUDIO_COMPILE"
"""Set to 1 to also try ``torch.compile`` for each captured step (kept where faster)."""
COMPILE_CACHE_ENV = "GLIDE_STUDIO_COMPILE_CACHE"
"""A folder for inductor's compiled kernels, kept between sessions (default: inductor's own)."""

Step = Callable[[Tensor, Tensor, Conditioning], Tensor]
Capture = Callable[[Callable[[], Tensor], int], tuple[Tensor, Callable[[], None]]]
"""(a step reading static inputs, warm-up runs) → (its static output, replay)."""


@dataclass(frozen=True, kw_only=True)
class StepOptions:
    graphs: bool = True
    compile: bool = False
    warmup: int = 2
    """Eager runs on a side stream before capturing (lazy initialisation, cuDNN's search)."""
    max_graphs: int = 8
    """Batch sizes kept per model; each holds its activations' memory."""
    compile_cache: Path | None = None
    """Inductor's on-disk cache folder (None: its default, or ``$TORCHINDUCTOR_CACHE_DIR``)."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> StepOptions:
        cache = environ.get(COMPILE_CACHE_ENV, "").strip()
        return cls(
            graphs=environ.get(GRAPHS_ENV, "1").strip() != "0",
            compile=environ.get(COMPILE_ENV, "").strip() == "1",
            compile_cache=Path(cache) if cache else None,
        )


def cuda_graph_capture(step: Callable[[], Tensor], warmup: int) -> tuple[Tensor, Callable[[], None]]:
    """Record ``step`` into a CUDA graph after ``warmup`` runs on a side stream (as torch asks)."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(warmup):
            step()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        output = step()
    torch.cuda.synchronize()
    return output, graph.replay


def _tensors(cond: Conditioning) -> list[Tensor]:
    """Every tensor of a conditioning, in a fixed order."""
    out = [cond.text.proj, *(t for kv in cond.text.kv for t in kv)]
    return out if cond.extra is None else [*out, cond.extra]


def _signature(x: Tensor, t: Tensor, cond: Conditioning) -> tuple[Any, ...]:
    """What a graph is fixed to: every input's shape, dtype and device."""
    shapes = tuple((tuple(a.shape), a.dtype, a.device) for a in (x, t, *_tensors(cond)))
    return (*shapes, cond.extra is None)


def _static_copy(cond: Conditioning) -> Conditioning:
    kv = tuple((k.clone(), v.clone()) for k, v in cond.text.kv)
    text = TextEncoding(proj=cond.text.proj.clone(), kv=kv)
    return Conditioning(text=text, extra=None if cond.extra is None else cond.extra.clone())


class _Graph:
    """One captured step: static inputs, the static output, and the replay."""

    def __init__(self, step: Step, x: Tensor, t: Tensor, cond: Conditioning, capture: Capture, warmup: int):
        self.x, self.t, self.cond = x.clone(), t.clone(), _static_copy(cond)
        self._static = _tensors(self.cond)
        self._last: Conditioning | None = None
        self.output, self.replay = capture(lambda: step(self.x, self.t, self.cond), warmup)

    def __call__(self, x: Tensor, t: Tensor, cond: Conditioning) -> Tensor:
        self.x.copy_(x)
        self.t.copy_(t)
        if cond is not self._last:  # a new request's conditioning: copied once, not per step
            for static, value in zip(self._static, _tensors(cond), strict=True):
                static.copy_(value)
            self._last = cond
        self.replay()
        return self.output.clone()

    def timed(self, repeat: int) -> float:
        """Seconds per replay (the compile-or-not choice); synchronizes on CUDA."""
        sync = torch.cuda.synchronize if self.output.is_cuda else (lambda: None)
        sync()
        start = time.perf_counter()
        for _ in range(repeat):
            self.replay()
        sync()
        return (time.perf_counter() - start) / repeat


class StepGraphs:
    """A model's step replayed from graphs at the batch sizes captured so far.

    ``run`` returns None for a shape without a graph (the caller runs the eager step).
    ``capture`` is the CUDA capture by default; tests hand in a stand-in that records
    the step and replays it by calling it again, which checks everything but CUDA.
    """

    def __init__(
        self,
        model: GlideModel,
        *,
        options: StepOptions | None = None,
        capture: Capture = cuda_graph_capture,
        compiler: Callable[[Step], Step] | None = None,
    ) -> None:
        self.model = model
        self.options = options or StepOptions()
        self._capture = capture
        self._compiler = compiler or _torch_compile(self.options)
        self._graphs: dict[tuple[Any, ...], _Graph] = {}
        self.failed: dict[int, str] = {}
        """Batch sizes whose capture failed, with why (never retried: they run eagerly)."""
        self.compiled: dict[int, bool] = {}
        """Batch sizes captured, and whether the compiled step was kept (measured faster)."""
        self.timings: dict[int, dict[str, float]] = {}
        """Seconds per replay of the plain and the compiled graph, where both were made."""
        self.hits = self.misses = 0
        self._lock = threading.Lock()
        """One step at a time through the static buffers (a server could share a model)."""

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(sorted(self.compiled))

    def inputs(self, rows: int) -> tuple[Tensor, Tensor, Conditioning]:
        """Placeholder inputs shaped as a run's step at ``rows`` rows (their values do not matter)."""
        model, config, device = self.model, self.model.config, self.model.device
        size = config.image_size
        tokens = torch.zeros(rows, config.text_ctx, dtype=torch.long, device=device)
        mask = torch.ones(rows, config.text_ctx, dtype=torch.bool, device=device)
        low_res = torch.zeros(rows, 3, size // 4, size // 4, device=device) if config.super_res else None
        cond = model.condition(tokens=tokens, mask=mask, low_res=low_res)
        x = torch.zeros(rows, 3, size, size, device=device)
        t = torch.full((rows,), 999, dtype=torch.long, device=device)
        return x, t, cond

    def capture(self, rows: int) -> bool:
        """Have a graph for batches of ``rows`` (captured now unless it exists or failed before)."""
        if rows in self.compiled:
            return True
        if rows in self.failed or len(self.compiled) >= self.options.max_graphs:
            return False
        try:
            with self._lock, torch.inference_mode():
                x, t, cond = self.inputs(rows)
                graph, compiled = self._best_graph(x, t, cond)
        except Exception as exc:  # any capture problem: this size stays eager, the run goes on
            log.warning("no CUDA graph for %d rows of %s: %s", rows, self.model.config.variant, exc)
            self.failed[rows] = f"{type(exc).__name__}: {exc}"
            if self.model.device.type == "cuda":
                torch.cuda.synchronize()
                torch.cuda.empty_cache()
            return False
        self._graphs[_signature(x, t, cond)] = graph
        self.compiled[rows] = compiled
        return True

    def _best_graph(self, x: Tensor, t: Tensor, cond: Conditioning) -> tuple[_Graph, bool]:
        """The plain graph, or the compiled step's when that is on and replays faster."""
        eager = self.model.denoise_eager
        plain = _Graph(eager, x, t, cond, self._capture, self.options.warmup)
        if not self.options.compile:
            return plain, False
        try:
            compiled = _Graph(self._compiler(eager), x, t, cond, self._capture, self.options.warmup)
        except Exception as exc:
            log.warning("torch.compile of the step failed, plain graphs are used: %s", exc)
            return plain, False
        rows = x.shape[0]
        self.timings[rows] = {"plain_s": plain.timed(5), "compiled_s": compiled.timed(5)}
        faster = self.timings[rows]["compiled_s"] < self.timings[rows]["plain_s"]
        return (compiled, True) if faster else (plain, False)

    def run(self, x: Tensor, t: Tensor, cond: Conditioning) -> Tensor | None:
        """The step's output from a graph, or None when no graph fits these inputs."""
        graph = self._graphs.get(_signature(x, t, cond)) if self._graphs else None
        if graph is None:
            self.misses += 1
            return None
        self.hits += 1
        with self._lock:
            return graph(x, t, cond)


def _torch_compile(options: StepOptions) -> Callable[[Step], Step]:
    def compile_step(step: Step) -> Step:
        if options.compile_cache is not None:
            os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(options.compile_cache))
        # No cudagraphs of its own (this module captures them) and fixed shapes per batch size.
        return torch.compile(step, mode="max-autotune-no-cudagraphs", dynamic=False, fullgraph=False)

    return compile_step


def install_step_graphs(model: GlideModel, options: StepOptions | None = None) -> StepGraphs | None:
    """Give a CUDA model step graphs (captured later, in preparation); elsewhere None and no change."""
    options = options or StepOptions.from_environ()
    if model.device.type != "cuda" or not options.graphs or not torch.cuda.is_available():
        model.step_graphs = None
        return None
    model.step_graphs = StepGraphs(model, options=options)
    return model.step_graphs
