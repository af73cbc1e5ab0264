"""The one door to the models: a ``Backend`` runs requests and says what it can do.

The window, the command line and the server use only this interface; this
computer's models (``runtime.engine.LocalBackend``) and a server's
(``remote.client.RemoteBackend``) both implement it, so no caller ever asks an
engine what it happens to have. ``BackendInfo`` is plain, frozen data: safe to
hand from the model thread to the interface, and what ``GET /v1/info`` sends.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Protocol

from .cancel import CancelToken
from .events import Event
from .presets import RecommendedSampling
from .request import EditRequest

__all__ = ["BASE", "UPSAMPLE", "Backend", "BackendError", "BackendInfo", "Capabilities", "Preparation"]

BASE, UPSAMPLE = "base", "upsample"
"""Stage names, as events and progress report them."""


class BackendError(RuntimeError):
    """The models could not be opened or reached; the message says why and what to do."""


@dataclass(frozen=True, kw_only=True)
class Capabilities:
    """What a backend can run beyond plain inpainting."""

    text2im: bool = False
    """The released text-to-image models draw a square with nothing known in it (without them
    the inpainting models draw it)."""
    clip: bool = False
    """The noised CLIP encoders are there: requests with ``clip_guidance`` can run."""
    outpaint: bool = True
    """Requests of kind ``outpaint`` (a grown canvas filled square by square) can run."""
    detail: bool = False
    """A detail pass can sharpen results larger than the last stage's output."""


@dataclass(frozen=True, kw_only=True)
class BackendInfo:
    """What runs where, for the interface and the command line to show and to decide by."""

    description: str
    device_label: str
    """Where the models run, e.g. "GPU: NVIDIA H100" or "CPU (2 threads) at gpu-box"."""
    base_resolution: int
    upsample_resolution: int | None
    """None when no upsampler is loaded."""
    is_demo: bool = False
    remote: bool = False
    """The models run on a server."""
    missing: tuple[str, ...] = ()
    """Released editor files that are not in the weights folder."""
    notice: str = ""
    """What the user must be told about this choice (demo fallback, no upsampler); empty if nothing."""
    sampling: RecommendedSampling | None = None
    """The model's own sampling (the demo model brings one)."""
    capabilities: Capabilities = field(default_factory=Capabilities)
    precision: str = ""
    """What each model computes in, e.g. "float32 base-inpaint, bfloat16 upsample-inpaint"."""
    threads: int | None = None
    """Torch CPU threads the local models use (None for a server)."""
    version: str = ""
    """The server program's version (empty for this computer)."""
    auto_detail: bool = False
    """Whether ``detail="auto"`` runs the detail pass on an enlarged square (on a GPU, and with
    the demo models; on a CPU the released models' tiles take minutes, so the user decides)."""

    def stages(self, *, use_upsampler: bool) -> tuple[str, ...]:
        """The stages a request runs: the upsampler only when asked for and loaded."""
        return (BASE, UPSAMPLE) if use_upsampler and self.upsample_resolution is not None else (BASE,)

    def output_resolution(self, *, use_upsampler: bool) -> int:
        """The side of the square the last stage makes."""
        if UPSAMPLE in self.stages(use_upsampler=use_upsampler):
            assert self.upsample_resolution is not None
            return self.upsample_resolution
        return self.base_resolution


@dataclass(frozen=True, kw_only=True)
class Preparation:
    """The settings a coming run will have, so a backend can do its one-off work early
    (encode the prompt, run each model once at the run's batch size)."""

    prompt: str
    candidates: int = 1
    guidance_scale: float = 5.0
    clip_guidance: float = 0.0
    use_upsampler: bool = True


class Backend(Protocol):
    """Runs edit requests somewhere and streams what happens."""

    @property
    def info(self) -> BackendInfo: ...

    def run(self, request: EditRequest, *, cancel: CancelToken | None = None) -> Generator[Event, None, None]:
        """The run's events: ``Started``, previews, candidates, then one of ``Finished``,
        ``Cancelled`` (the token was set) or ``Failed`` (what a server reports). Closing the
        generator cancels. A request the models cannot run raises an error written for the
        user (``RequestError``, ``RemoteError``, …)."""
        ...

    def prepare(self, preparation: Preparation, *, cancel: CancelToken | None = None) -> dict[str, float]:
        """Do a coming run's one-off work now; the seconds each stage's first step took
        (empty when there is nothing to do here). Raises ``RunCancelled`` when cancelled."""
        ...
