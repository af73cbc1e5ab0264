"""The Ray Serve application: a light ingress in front of model replicas.

The ingress (no model, no GPU) answers ``/v1/info``, checks every request
(token, size, JSON, pictures, settings) and forwards only good ones to an
``EditWorker`` replica through a streaming handle. Each worker loads the models
once and takes one edit at a time (``max_ongoing_requests=1``), so further
requests wait in Ray Serve's queue until a replica is free, and autoscaling
sees that queue. A client that disconnects cancels the run: the worker stops
after the step in progress and is free for the next request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from ..core.generation.cancel import CancelToken
from ..core.generation.request import EditRequest
from ..core.remote.wire import API_VERSION, WireError, dumps_line
from .service import EditRunner, RequestGate, ServiceConfig, edit_summary

__all__ = ["APP_NAME", "DeployOptions", "EditWorker", "Gateway", "build_app"]

APP_NAME = "glide-studio"
_log = logging.getLogger("ray.serve")


@dataclass(frozen=True, kw_only=True)
class DeployOptions:
    """How many replicas, on what resources."""

    service: ServiceConfig = field(default_factory=ServiceConfig)
    replicas: int = 1
    min_replicas: int | None = None
    max_replicas: int | None = None
    """Autoscaling bounds; when either is given the replica count follows the queue."""
    gpus_per_replica: float = 0.0
    cpus_per_replica: float = 1.0

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise ValueError(f"replicas must be at least 1, got {self.replicas}")
        low, high = self.min_replicas, self.max_replicas
        if (low is not None and low < 0) or (high is not None and high < max(1, low or 0)):
            raise ValueError(f"bad autoscaling bounds: min {low}, max {high}")
        if self.gpus_per_replica < 0 or self.cpus_per_replica < 0:
            raise ValueError("GPUs and CPUs per replica cannot be negative")

    def worker_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "max_ongoing_requests": 1,
            "ray_actor_options": {"num_cpus": self.cpus_per_replica, "num_gpus": self.gpus_per_replica},
            # Loading the released models can take a while on a cold disk.
            "health_check_timeout_s": 120,
        }
        if self.min_replicas is None and self.max_replicas is None:
            options["num_replicas"] = self.replicas
        else:
            low = self.min_replicas if self.min_replicas is not None else 1
            high = self.max_replicas if self.max_replicas is not None else max(low, self.replicas)
            options["autoscaling_config"] = {
                "min_replicas": low,
                "initial_replicas": max(1, min(high, max(low, self.replicas))),
                "max_replicas": high,
                "target_ongoing_requests": 1,
            }
        return options


class EditWorker:
    """A model replica: loads the models once, runs one edit at a time."""

    def __init__(self, config: ServiceConfig) -> None:
        self.runner = EditRunner.load(config)
        # One thread: the run's generator always advances on the same thread.
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="glide-edit")

    def info(self) -> dict[str, Any]:
        return self.runner.info()

    async def edit(self, request: EditRequest) -> AsyncIterator[bytes]:
        token = CancelToken()
        lines = self.runner.lines(request, token)
        loop = asyncio.get_running_loop()
        pending: asyncio.Future | None = None
        _log.info("edit %s", edit_summary(request))
        try:
            while True:
                pending = loop.run_in_executor(self.pool, next, lines, None)
                line = await pending
                pending = None
                if line is None:
                    return
                yield line
        finally:
            token.cancel()
            try:
                if pending is not None:  # the model stops at its next block, then the run ends
                    await asyncio.shield(pending)
                await loop.run_in_executor(self.pool, lines.close)
            except asyncio.CancelledError:
                pass


class Gateway:
    """The HTTP ingress: checks, then forwards good requests to a worker."""

    def __init__(self, worker: DeploymentHandle, config: ServiceConfig) -> None:
        self.worker = worker
        self.gate = RequestGate(config)
        self._info: dict[str, Any] | None = None
        self._info_lock = asyncio.Lock()

    async def __call__(self, request: Request) -> Response:
        path = request.url.path.rstrip("/")
        try:
            if path == f"/v{API_VERSION}/info":
                self._method(request, "GET")
                self.gate.authorize(request.headers.get("authorization"))
                return JSONResponse(await self.info())
            if path == f"/v{API_VERSION}/edit":
                self._method(request, "POST")
                self.gate.authorize(request.headers.get("authorization"))
                self.gate.check_length(request.headers.get("content-length"))
                body = await self._body(request)
                edit = await asyncio.to_thread(self.gate.parse_edit, body)
                return StreamingResponse(self._stream(edit), media_type="application/x-ndjson")
            raise WireError(
                f"no such endpoint {path or '/'}; this server answers /v{API_VERSION}/info and "
                f"/v{API_VERSION}/edit",
                404,
            )
        except WireError as exc:
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
            return JSONResponse({"error": str(exc), "status": exc.status}, exc.status, headers=headers)
        except Exception:  # a bug, not the client's fault: logged here, named there
            _log.exception("request failed")
            return JSONResponse({"error": "internal server error (see the server's log)", "status": 500}, 500)

    @staticmethod
    def _method(request: Request, expected: str) -> None:
        if request.method != expected:
            raise WireError(f"{request.url.path} takes {expected}, not {request.method}", 405)

    async def _body(self, request: Request) -> bytes:
        limit = self.gate.limits.max_body_bytes
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise WireError(f"the request is over this server's {limit} bytes", 413)
            chunks.append(chunk)
        return b"".join(chunks)

    async def info(self) -> dict[str, Any]:
        """Asked of a worker once, then kept: info never waits behind a running edit again."""
        async with self._info_lock:
            if self._info is None:
                self._info = await self.worker.info.remote()
            return self._info

    async def _stream(self, edit: EditRequest) -> AsyncIterator[bytes]:
        events = self.worker.options(stream=True).edit.remote(edit)
        try:
            async for line in events:
                yield line
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a replica died mid-run: say so in the stream
            _log.exception("edit failed")
            yield dumps_line({"event": "failed", "message": f"The server lost the model replica: {exc}"})
        finally:
            events.cancel()


def build_app(options: DeployOptions) -> Any:
    """The Serve application (ingress bound to its workers), ready for ``serve.run``."""
    worker = serve.deployment(EditWorker, name="EditWorker").options(**options.worker_options())
    gateway = serve.deployment(Gateway, name="Gateway").options(
        num_replicas=1, max_ongoing_requests=1000, ray_actor_options={"num_cpus": 0}
    )
    return gateway.bind(worker.bind(options.service), options.service)


def deploy(
    options: DeployOptions,
    *,
    host: str,
    port: int,
    address: str | None = None,
    ray_init: dict[str, Any] | None = None,
) -> None:
    """Start (or join, with ``address``) Ray, start Serve's HTTP proxy and run the application.

    Returns once every replica has loaded its models.
    """
    import ray

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, **(ray_init or {}))
    serve.start(http_options={"host": host, "port": port})
    ingress = serve.run(build_app(options), name=APP_NAME, route_prefix="/")
    # Ask a worker for its description now, while it is idle: /v1/info never waits behind an edit.
    ingress.info.remote().result(timeout_s=600)
