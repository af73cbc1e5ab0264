"""What the server does, independent of Ray: check requests, run them, stream events.

The ingress uses ``RequestGate`` (token, size, JSON, pictures, settings: every
refusal happens here, before a model is involved); each model replica holds an
``EditRunner`` that loaded its models once and turns a request into NDJSON lines.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from ..core.generation.backend import Backend
from ..core.generation.cancel import CancelToken, RunCancelled
from ..core.generation.events import Cancelled, Failed
from ..core.generation.request import EditRequest
from ..core.generation.respacing import space_timesteps
from ..core.remote.wire import (
    Limits,
    WireError,
    dumps_line,
    event_to_wire,
    info_to_wire,
    loads_checked,
    request_from_wire,
)
from .jobs import JobSettings

__all__ = [
    "EditRunner",
    "RequestGate",
    "ServiceConfig",
    "is_loopback",
    "is_loopback_host_header",
    "package_version",
    "request_steps",
]


def package_version() -> str:
    try:
        return metadata.version("glide-studio")
    except metadata.PackageNotFoundError:
        return "unknown"


def is_loopback(host: str) -> bool:
    """True when ``host`` accepts connections from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})


def is_loopback_host_header(host: str | None) -> bool:
    """True for a ``Host`` header naming this machine (``localhost``, ``127.0.0.1`` or ``[::1]``,
    with any port): a token-less server answers only those, so a web page that rebinds its own
    name to 127.0.0.1 cannot read from it."""
    if not host:
        return False
    name = host.strip().lower()
    if name.startswith("["):
        name = name[: name.find("]") + 1] if "]" in name else name
    else:
        name = name.rsplit(":", 1)[0] if name.count(":") == 1 else name
    return name in _LOOPBACK_NAMES


def request_steps(request: EditRequest) -> int:
    """The most sampling steps any stage of the request takes."""
    stages = [request.base.steps] + ([request.upsample.steps] if request.use_upsampler else [])
    if request.detail != "off":
        stages.append(request.detail_steps)  # per tile; --max-seconds bounds the tiles' total
    return max(len(space_timesteps(1000, steps)) for steps in stages)


@dataclass(frozen=True, kw_only=True)
class ServiceConfig:
    """Everything a replica needs to load its models and judge requests."""

    weights_dir: Path | None = None
    device: str | None = None
    demo: bool | None = None
    token: str | None = None
    """Bearer token every request must carry; None only when listening on loopback."""
    limits: Limits = field(default_factory=Limits)
    preview_format: str = "WEBP"
    threads: int | None = None
    """Torch CPU threads per replica (None: torch's default)."""
    jobs: JobSettings = field(default_factory=JobSettings)
    lease_s: float = 10.0
    """A replica cancels a run whose ingress has not confirmed it for this long (the ingress died)."""
    stuck_after_s: float = 600.0
    """Health: a replica whose model thread made no step for this long while running is unhealthy."""


class RequestGate:
    """Every check a request passes before it may reach a model."""

    def __init__(self, config: ServiceConfig) -> None:
        self.token = config.token
        self.limits = config.limits

    def authorize(self, authorization: str | None) -> None:
        if self.token is None:
            return
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            raise WireError("a valid bearer token is required (Authorization: Bearer TOKEN)", 401)

    def check_length(self, content_length: str | None) -> None:
        if content_length is None:
            return
        try:
            size = int(content_length)
        except ValueError:
            raise WireError(f"bad Content-Length {content_length!r}") from None
        if size > self.limits.max_body_bytes:
            raise WireError(
                f"the request is {size} bytes; this server takes {self.limits.max_body_bytes}", 413
            )

    @staticmethod
    def check_host(host: str | None, *, token: str | None) -> None:
        """Without a token only this machine's names are answered (421 otherwise)."""
        if token is None and not is_loopback_host_header(host):
            raise WireError("this server has no token and answers only to localhost, 127.0.0.1 or [::1]", 421)

    @staticmethod
    def check_json_body(content_type: str | None) -> None:
        """Only JSON bodies: a form or text/plain POST (what any web page may send) is a 415."""
        media = (content_type or "").split(";", 1)[0].strip().lower()
        if media != "application/json":
            raise WireError(f"send the request as application/json, not {media or 'no content type'}", 415)

    def parse_edit(self, body: bytes) -> EditRequest:
        if len(body) > self.limits.max_body_bytes:
            raise WireError(f"the request is over this server's {self.limits.max_body_bytes} bytes", 413)
        payload = loads_checked(body, what="the request")
        request = request_from_wire(payload, limits=self.limits)
        steps = request_steps(request)
        if steps > self.limits.max_steps:
            most = self.limits.max_steps
            raise WireError(f"{steps} steps asked; this server runs at most {most} per stage (--max-steps)")
        return request


class EditRunner:
    """One replica's models, loaded once, and the stream of one run."""

    def __init__(self, backend: Backend, config: ServiceConfig) -> None:
        self.backend = backend
        self.config = config

    @classmethod
    def load(cls, config: ServiceConfig) -> EditRunner:
        from ..core.runtime.engine import load_local_backend

        if config.threads:
            import torch

            torch.set_num_threads(config.threads)
        backend = load_local_backend(weights_dir=config.weights_dir, device=config.device, demo=config.demo)
        return cls(backend, config)

    def info(self) -> dict[str, Any]:
        """``GET /v1/info``: what runs here and what a request may cost."""
        return info_to_wire(
            self.backend.info,
            limits=self.config.limits,
            auth=self.config.token is not None,
            version=package_version(),
        )

    def lines(self, request: EditRequest, cancel: CancelToken) -> Iterator[bytes]:
        """The run as NDJSON lines; stops between steps once ``cancel`` is set; never raises."""
        events = self.backend.run(request, cancel=cancel)
        try:
            for event in events:
                yield dumps_line(event_to_wire(event, preview_format=self.config.preview_format))
                if cancel.cancelled or isinstance(event, Cancelled | Failed):
                    return
        except RunCancelled:
            return
        except Exception as exc:  # reported to the client: the stream has already begun
            yield dumps_line(event_to_wire(Failed(message=_describe_failure(exc))))
        finally:
            events.close()


def _describe_failure(exc: BaseException) -> str:
    """A message for the person at the other end; the server's log keeps the traceback."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return "The server ran out of memory. Try fewer candidates or turn off upsampling."
    if type(exc).__module__.startswith("glide_studio.") or isinstance(exc, ValueError):
        return f"The server could not run the edit: {exc}"
    return f"The server could not run the edit: {type(exc).__name__}: {str(exc).strip() or 'no details'}"


def edit_summary(request: EditRequest) -> Mapping[str, Any]:
    """A short line for the server's log."""
    return {"prompt": request.prompt[:60], "seed": request.seed, "candidates": request.candidates}
