"""The Ray Serve application: a light ingress in front of model replicas.

The ingress (no model, no GPU) answers ``/v1/info`` and the job endpoints,
checks every request (host, token, content type, size, JSON, pictures,
settings) and turns good ones into jobs (``jobs.JobBoard``), each run on an
``EditWorker`` replica through a streaming handle. Each worker loads the models
once and takes one edit at a time (``max_ongoing_requests=1``), so further jobs
wait in Ray Serve's queue until a replica is free, and autoscaling sees that
queue. A worker holds a lease on its run: it asks the ingress every few seconds
whether the job is still wanted, so a run whose ingress died is cancelled
instead of holding the replica. ``check_health`` reports a model thread that
stopped making steps.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
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
from ..core.remote.wire import API_VERSION, WireError
from .jobs import Job, JobBoard, QueueFull
from .service import EditRunner, RequestGate, ServiceConfig, edit_summary

__all__ = ["APP_NAME", "DeployOptions", "EditWorker", "Gateway", "Lease", "build_app"]

APP_NAME = "glide-studio"
FEATURES = ("jobs", "resume", "queue")
"""What this server can do beyond API version 1's ``/v1/edit``; clients check before using it."""
_log = logging.getLogger("ray.serve")


@dataclass(frozen=True, kw_only=True)
class DeployOptions:
    """How many replicas, on what resources, with which queue and timeouts."""

    service: ServiceConfig = field(default_factory=ServiceConfig)
    replicas: int = 1
    min_replicas: int | None = None
    max_replicas: int | None = None
    """Autoscaling bounds; when either is given the replica count follows the queue."""
    target_ongoing_requests: float = 1.0
    """Autoscaling: the edits per replica (running and queued) it aims at."""
    gpus_per_replica: float = 0.0
    cpus_per_replica: float = 1.0
    request_timeout_s: float | None = None
    """Ray's HTTP request timeout (None: none); a job's event stream cut by it is resumed by clients."""

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise ValueError(f"replicas must be at least 1, got {self.replicas}")
        low, high = self.min_replicas, self.max_replicas
        if (low is not None and low < 0) or (high is not None and high < max(1, low or 0)):
            raise ValueError(f"bad autoscaling bounds: min {low}, max {high}")
        if self.gpus_per_replica < 0 or self.cpus_per_replica < 0:
            raise ValueError("GPUs and CPUs per replica cannot be negative")
        if self.target_ongoing_requests <= 0:
            raise ValueError("the autoscaling target must be above 0")

    def worker_options(self) -> dict[str, Any]:
        most = self.max_replicas or self.replicas
        options: dict[str, Any] = {
            "max_ongoing_requests": 1,
            # A backstop behind the ingress's own --max-queue (which answers 429 first).
            "max_queued_requests": self.service.jobs.max_queue + most,
            "ray_actor_options": {"num_cpus": self.cpus_per_replica, "num_gpus": self.gpus_per_replica},
            # Loading the released models can take a while on a cold disk.
            "health_check_timeout_s": 120,
            "health_check_period_s": 10,
            "graceful_shutdown_timeout_s": 3,
            "graceful_shutdown_wait_loop_s": 0.5,
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
                "target_ongoing_requests": self.target_ongoing_requests,
            }
        return options

    def gateway_options(self) -> dict[str, Any]:
        return {
            "num_replicas": 1,
            "max_ongoing_requests": 1000,
            "ray_actor_options": {"num_cpus": 0},
            "graceful_shutdown_timeout_s": 2,
            "graceful_shutdown_wait_loop_s": 0.5,
        }


@dataclass(frozen=True)
class Lease:
    """Which ingress wants a run: the worker asks it (``Gateway.holds``) between steps."""

    app: str
    gateway: str
    job: str


class EditWorker:
    """A model replica: loads the models once, runs one edit at a time."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.runner = EditRunner.load(config)
        # One thread: the run's generator always advances on the same thread.
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="glide-edit")
        self._progress: float | None = None
        """When the running edit last made a step (None: idle)."""

    def info(self) -> dict[str, Any]:
        return self.runner.info()

    def check_health(self) -> None:
        """Serve restarts a replica whose model thread stopped making steps mid-run."""
        if self._progress is not None and time.monotonic() - self._progress > self.config.stuck_after_s:
            raise RuntimeError(f"the model made no step for over {self.config.stuck_after_s:g} s")

    async def edit(self, request: EditRequest, lease: Lease | None = None) -> AsyncIterator[bytes]:
        token = CancelToken()
        lines = self.runner.lines(request, token)
        loop = asyncio.get_running_loop()
        pending: asyncio.Future | None = None
        keeper = loop.create_task(_keep_lease(lease, token, self.config.lease_s)) if lease else None
        outcome = "cancelled"
        _log.info("edit %s", edit_summary(request))
        self._progress = time.monotonic()
        try:
            while True:
                pending = loop.run_in_executor(self.pool, next, lines, None)
                line = await pending
                pending = None
                self._progress = time.monotonic()
                if line is None:
                    outcome = "cancelled (its client left)" if token.cancelled else "ended"
                    return
                yield line
        finally:
            if keeper is not None:
                keeper.cancel()
            token.cancel()
            _log.info("edit %s", outcome)
            try:
                if pending is not None:  # the model stops at its next block, then the run ends
                    await asyncio.shield(pending)
                await loop.run_in_executor(self.pool, lines.close)
            except asyncio.CancelledError:
                pass
            finally:
                self._progress = None


async def _keep_lease(lease: Lease, token: CancelToken, lease_s: float) -> None:
    """Cancel the run once its ingress says it no longer wants it, or cannot be asked for ``lease_s``."""
    gateway = serve.get_deployment_handle("Gateway", app_name=lease.app)
    confirmed = time.monotonic()
    interval = max(0.2, lease_s / 5)
    while not token.cancelled:
        await asyncio.sleep(interval)
        answer = gateway.holds.remote(lease.job, lease.gateway)
        try:
            wanted = await asyncio.wait_for(asyncio.ensure_future(answer), timeout=interval * 2)
        except (Exception, asyncio.TimeoutError):  # the ingress is gone or restarting
            answer.cancel()
            wanted = None
        if wanted:
            confirmed = time.monotonic()
        elif wanted is False or time.monotonic() - confirmed > lease_s:
            _log.warning("edit of job %s cancelled: its ingress no longer holds it", lease.job)
            token.cancel()
            return


class Gateway:
    """The HTTP ingress: checks, then jobs that run on the workers."""

    def __init__(self, worker: DeploymentHandle, config: ServiceConfig) -> None:
        self.worker = worker
        self.config = config
        self.gate = RequestGate(config)
        self.board = JobBoard(self._run, config.jobs)
        self.instance = secrets.token_hex(8)
        """This ingress's own id: a restarted ingress holds none of its predecessor's runs."""
        self._info: dict[str, Any] | None = None
        self._info_lock = asyncio.Lock()
        self._replicas: tuple[float, dict[str, Any]] = (0.0, {})

    async def __call__(self, request: Request) -> Response:
        path = request.url.path.rstrip("/")
        try:
            RequestGate.check_host(request.headers.get("host"), token=self.gate.token)
            return await self._route(request, path)
        except WireError as exc:
            return _refusal(exc)
        except Exception:  # a bug, not the client's fault: logged here, named there
            _log.exception("request failed")
            return JSONResponse({"error": "internal server error (see the server's log)", "status": 500}, 500)

    async def _route(self, request: Request, path: str) -> Response:
        root = f"/v{API_VERSION}"
        if path == f"{root}/info":
            self._expect(request, "GET")
            return JSONResponse(await self.info())
        if path in (f"{root}/edit", f"{root}/jobs"):
            self._expect(request, "POST")
            job = self.board.submit(await self._edit(request))
            if path.endswith("/jobs"):
                answer = {**job.summary(time.monotonic()), "events": f"{root}/jobs/{job.id}/events"}
                return JSONResponse(answer, 202)
            return StreamingResponse(self._edit_stream(job), media_type="application/x-ndjson")
        parts = path.split("/")  # "", "v1", "jobs", ID[, "events"]
        if path.startswith(f"{root}/jobs/") and len(parts) in (4, 5) and parts[3]:
            return await self._job(request, parts[3], parts[4] if len(parts) == 5 else "")
        raise WireError(
            f"no such endpoint {path or '/'}; this server answers {root}/info, {root}/jobs and {root}/edit",
            404,
        )

    async def _job(self, request: Request, job_id: str, tail: str) -> Response:
        if tail == "events":
            self._expect(request, "GET")
            job = self.board.get(job_id)
            after = _after(request.query_params.get("after", "0"))
            return StreamingResponse(job.follow(after), media_type="application/x-ndjson")
        if tail:
            raise WireError(f"no such endpoint {request.url.path}", 404)
        if request.method == "DELETE":
            self.gate.authorize(request.headers.get("authorization"))
            return JSONResponse(self.board.cancel(job_id).summary(time.monotonic()))
        self._expect(request, "GET")
        return JSONResponse(self.board.get(job_id).summary(time.monotonic()))

    def _expect(self, request: Request, method: str) -> None:
        if request.method != method:
            raise WireError(f"{request.url.path} takes {method}, not {request.method}", 405)
        self.gate.authorize(request.headers.get("authorization"))

    async def _edit(self, request: Request) -> EditRequest:
        RequestGate.check_json_body(request.headers.get("content-type"))
        self.gate.check_length(request.headers.get("content-length"))
        limit = self.gate.limits.max_body_bytes
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise WireError(f"the request is over this server's {limit} bytes", 413)
            chunks.append(chunk)
        return await asyncio.to_thread(self.gate.parse_edit, b"".join(chunks))

    async def _edit_stream(self, job: Job) -> AsyncIterator[bytes]:
        """``/v1/edit``: one job's events on this connection; leaving cancels it (as before jobs)."""
        try:
            async for line in job.follow(0):
                if b'"event":"queued"' not in line[:40]:  # older clients know no queue
                    yield line
        finally:
            if not job.done:
                self.board.cancel(job.id)

    async def _run(self, edit: EditRequest, job_id: str) -> AsyncIterator[bytes]:
        """A job's run on a worker replica, under a lease the worker renews with ``holds``."""
        app = _app_name() or APP_NAME
        events = self.worker.options(stream=True).edit.remote(edit, Lease(app, self.instance, job_id))
        try:
            async for line in events:
                yield line
        finally:
            events.cancel()

    def holds(self, job_id: str, instance: str) -> bool:
        """A worker's lease check: False once the job ended, was cancelled, or belongs to a dead ingress."""
        return instance == self.instance and self.board.holds(job_id)

    async def info(self) -> dict[str, Any]:
        """The models (asked of a worker once, then kept), the queue and the replicas now."""
        async with self._info_lock:
            if self._info is None:
                self._info = await self.worker.info.remote()
        return {
            **self._info,
            "features": list(FEATURES),
            "queue": self.board.counts(),
            "replicas": await self._replica_states(),
        }

    async def _replica_states(self) -> dict[str, Any]:
        """The workers' states from Serve's controller, asked at most every 2 s."""
        asked, states = self._replicas
        app_name = _app_name()
        if time.monotonic() - asked < 2.0 or app_name is None:
            return states
        try:
            status = await asyncio.wait_for(asyncio.to_thread(serve.status), timeout=5)
            app = status.applications[app_name]
            worker = app.deployments["EditWorker"]
            counts = {str(getattr(k, "value", k)).lower(): n for k, n in worker.replica_states.items()}
            states = {"status": str(getattr(worker.status, "value", worker.status)).lower(), **counts}
        except Exception:  # the controller is busy: the last answer stands
            _log.debug("no replica states", exc_info=True)
        self._replicas = (time.monotonic(), states)
        return states


def _app_name() -> str | None:
    """The application this replica belongs to (None outside Serve, as in the tests)."""
    try:
        return serve.get_replica_context().app_name
    except Exception:  # RayServeException: not running as a replica
        return None


def _after(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise WireError(f"'after' must be an event number, got {text[:20]!r}") from None
    if value < 0:
        raise WireError("'after' cannot be negative")
    return value


def _refusal(exc: WireError) -> JSONResponse:
    headers = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, QueueFull):
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse({"error": str(exc), "status": exc.status}, exc.status, headers=headers or None)


def build_app(options: DeployOptions) -> Any:
    """The Serve application (ingress bound to its workers), ready for ``serve.run``."""
    worker = serve.deployment(EditWorker, name="EditWorker").options(**options.worker_options())
    gateway = serve.deployment(Gateway, name="Gateway").options(**options.gateway_options())
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

    Returns once every replica has loaded its models."""
    import ray

    from .ray_setup import local_ray_options

    if not ray.is_initialized():
        ray.init(address=address, **local_ray_options(host=host, address=address), **(ray_init or {}))
    http: dict[str, Any] = {"host": host, "port": port}
    if options.request_timeout_s:
        http["request_timeout_s"] = options.request_timeout_s
    serve.start(http_options=http)
    ingress = serve.run(build_app(options), name=APP_NAME, route_prefix="/")
    # Ask a worker for its description now, while it is idle: /v1/info never waits behind an edit.
    ingress.info.remote().result(timeout_s=600)
