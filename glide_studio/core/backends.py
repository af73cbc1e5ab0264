"""Opening a backend: this computer's models, or a GLIDE Studio server's.

The one place that knows both implementations of ``generation.backend.Backend``;
the window, the command line and the server get a backend from here (or are
handed one) and use nothing else of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .generation.backend import Backend, BackendError

__all__ = ["BackendError", "LocalOptions", "open_backend"]


@dataclass(frozen=True, kw_only=True)
class LocalOptions:
    """How to load this computer's models."""

    weights_dir: str | Path | None = None
    """None: ``$GLIDE_STUDIO_WEIGHTS``, else the user cache folder (the demo model if empty)."""
    device: str | None = None
    """None or "auto": the best available."""
    precision: str = "auto"
    demo: bool | None = None
    """True: the built-in demo models; False: the released ones or an error; None: either."""


def open_backend(
    *,
    server: str = "",
    token: str = "",
    local: LocalOptions | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Backend:
    """A server's models when ``server`` is given (asked what they are now; ``on_wait`` hears
    "waiting for the server…" when it is slow to answer), else this computer's (loaded now).
    Raises a ``BackendError`` with a message for the user."""
    if server:
        from .remote.client import RemoteBackend

        return RemoteBackend.connect(server, token=token or None, on_wait=on_wait)
    from .runtime.devices import DeviceError
    from .runtime.engine import EngineError, load_local_backend
    from .text.tokenizer import TokenizerError
    from .weights.checkpoints import CheckpointError

    options = local or LocalOptions()
    device = None if options.device in (None, "auto") else options.device
    try:
        return load_local_backend(
            weights_dir=options.weights_dir, device=device, demo=options.demo, precision=options.precision
        )
    except (DeviceError, CheckpointError, TokenizerError) as exc:
        raise EngineError(str(exc)) from exc
