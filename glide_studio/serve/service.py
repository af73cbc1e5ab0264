"""What the server does, independent of Ray: check requests, run them, stream events.

The ingress uses ``RequestGate`` (token, size, JSON, pictures, settings: every
refusal happens here, before a model is involved); each model replica holds an
``EditRunner`` that loaded its models once and turns a request into NDJSON lines.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from ..core.generation.backend import Backend
from ..core.generation.cancel import CancelToken, RunCancelled
from ..core.generation.events import Cancelled, Failed
from ..core.generation.request import EditRequest
from ..core.remote.wire import Limits, WireError, dumps_line, event_to_wire, info_to_wire, request_from_wire

__all__ = ["EditRunner", "RequestGate", "ServiceConfig", "is_loopback", "package_version"]


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

    def parse_edit(self, body: bytes) -> EditRequest:
        if len(body) > self.limits.max_body_bytes:
            raise WireError(f"the request is over this server's {self.limits.max_body_bytes} bytes", 413)
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise WireError(f"the request is not valid JSON ({exc})") from None
        return request_from_wire(payload, limits=self.limits)


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
