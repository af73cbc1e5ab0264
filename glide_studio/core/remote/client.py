"""A Qt-free client for ``glide-studio serve``: a server's models as a ``Backend``.

``RemoteBackend.connect(url, token=...)`` asks the server what it runs (and
refuses a server that speaks another API version); ``backend.run(request,
cancel=token)`` streams the same events a local run yields, rebuilt and checked
here (candidates composed onto the local original), so the CLI and the studio's
worker need not know where the models are. On a server with jobs a run is a
job: a dropped connection is resumed from the last event received, and a cancel
(or a consumer that stops iterating) cancels the job on the server. Nothing the
server sends is trusted: lines are capped, JSON depth is bounded, every event is
checked against the request, and its text is escaped. Only the standard
library's ``http.client``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..generation.backend import BackendError, BackendInfo, Preparation
from ..generation.cancel import CancelToken
from ..generation.events import Cancelled, Candidate, Event, Failed, Finished
from ..generation.request import EditRequest
from .wire import (
    API_VERSION,
    MAX_LINE_BYTES,
    Limits,
    WireError,
    clean_text,
    event_from_wire,
    info_from_wire,
    loads_checked,
    request_to_wire,
)

__all__ = ["INFO_TIMEOUT", "RESUME_TRIES", "RemoteBackend", "RemoteError"]

_TERMINAL = (Finished, Cancelled, Failed)
INFO_TIMEOUT = 15.0
"""Seconds ``/v1/info`` may take: it never waits for a model, so a longer wait means trouble."""
WAIT_NOTICE_AFTER = 3.0
RESUME_TRIES = 6
"""Reconnections in a row (waiting 0.5, 1, 2, 4, 8, 8 s) before a dropped run is given up."""
MAX_INFO_BYTES = 1 << 20


class RemoteError(BackendError):
    """The server could not be reached, refused a request, or the connection broke."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        """The HTTP status of a refusal; None when the server was not reached or the connection broke."""
        self.retry_after = retry_after


class _Dropped(Exception):
    """The stream ended before its last event (the connection broke or the server went away)."""


@dataclass(frozen=True)
class _Server:
    """Where the server is and how to talk to it."""

    url: str
    scheme: str
    host: str
    port: int | None
    prefix: str
    token: str | None
    timeout: float

    @classmethod
    def parse(cls, url: str, token: str | None, timeout: float) -> _Server:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RemoteError(f"{url!r} is not a server address; use http://HOST:PORT")
        try:
            port = parts.port
        except ValueError:
            raise RemoteError(f"{url!r} has a bad port number") from None
        return cls(
            url.rstrip("/"), parts.scheme, parts.hostname, port, parts.path.rstrip("/"), token, timeout
        )

    def connection(self, timeout: float | None = None) -> http.client.HTTPConnection:
        factory = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return factory(self.host, self.port, timeout=timeout or self.timeout)

    def headers(self, **extra: str) -> dict[str, str]:
        headers = {"Accept": "application/json", **extra}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def send(
        self,
        conn: http.client.HTTPConnection,
        method: str,
        path: str,
        body: bytes | None = None,
        connected: Callable[[socket.socket], None] | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> Any:
        """The response to one request on ``conn``, once the server answers with a status in ``ok``.

        ``connected`` gets the socket as soon as it exists: http.client drops its own reference
        when a server answers ``Connection: close``, and a cancel must still reach it."""
        headers = self.headers(**({"Content-Type": "application/json"} if body is not None else {}))
        try:
            if connected is not None:
                conn.connect()
                connected(conn.sock)
            conn.request(method, f"{self.prefix}/v{API_VERSION}{path}", body=body, headers=headers)
            response = conn.getresponse()
        except TimeoutError as exc:
            raise RemoteError(
                f"the server at {self.url} did not answer within {conn.timeout:g} s (busy or unreachable)"
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise RemoteError(f"cannot reach the server at {self.url}: {clean_text(exc)}") from exc
        if response.status not in ok:
            raise _refusal(self.url, response)
        return response

    def call(self, method: str, path: str, body: bytes | None = None, *, timeout: float) -> Any:
        """One small JSON exchange on a connection of its own (``timeout`` bounds each wait)."""
        conn = self.connection(timeout)
        try:
            response = self.send(conn, method, path, body, ok=(200, 202))
            return loads_checked(_read_capped(response, MAX_INFO_BYTES), what="the server's answer")
        except (OSError, http.client.HTTPException) as exc:
            raise RemoteError(f"lost the connection to {self.url}: {clean_text(exc)}") from exc
        except WireError as exc:
            raise RemoteError(f"{self.url} did not answer like a GLIDE Studio server: {exc}") from exc
        finally:
            conn.close()


def _read_capped(response: Any, limit: int) -> bytes:
    raw = response.read(limit + 1)
    if len(raw) > limit:
        raise WireError(f"the answer is over {limit} bytes")
    return raw


def _refusal(url: str, response: Any) -> RemoteError:
    """The server's reason for a refusal, escaped and short."""
    try:
        data = json.loads(response.read(65536))
        detail = clean_text(data.get("error", "no reason given"), limit=500)
    except (OSError, ValueError, AttributeError, RecursionError, http.client.HTTPException):
        detail = clean_text(response.reason or "no reason given", limit=200)
    retry = response.getheader("Retry-After")
    try:
        retry_after = float(retry) if retry is not None else None
    except ValueError:
        retry_after = None
    return RemoteError(
        f"the server at {url} refused the request (HTTP {response.status}): {detail}",
        status=response.status,
        retry_after=retry_after,
    )


class _Events:
    """One run's events as the server sends them: checked, counted, candidates kept across reconnections."""

    def __init__(self, url: str, request: EditRequest) -> None:
        self.url, self.request = url, request
        self.candidates: dict[int, Candidate] = {}
        self.received = 0
        self.last = 0
        """The number of the last event received (jobs number their events from 1)."""

    def read(self, response: Any) -> Iterator[Event]:
        """Events from one response; ``_Dropped`` when it ends before a final event."""
        while True:
            try:
                line = response.readline(MAX_LINE_BYTES + 1)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                raise _Dropped(clean_text(exc, limit=200)) from exc
            if len(line) > MAX_LINE_BYTES:
                raise RemoteError(f"the server at {self.url} sent an event line over {MAX_LINE_BYTES} bytes")
            if not line.endswith(b"\n"):  # the connection ended, perhaps mid-line
                raise _Dropped("")
            if not line.strip():
                continue
            event = self.decode(line)
            if event is not None:
                yield event

    def decode(self, line: bytes) -> Event | None:
        try:
            data = loads_checked(line, what="an event")
            if not isinstance(data, dict):
                raise WireError(f"expected a JSON object, got {type(data).__name__}")
            event = event_from_wire(
                data, original=self.request.image, candidates=self.candidates, asked=self.request.candidates
            )
        except WireError as exc:
            raise RemoteError(f"the server at {self.url} sent an unreadable event: {exc}") from exc
        number = data.get("n")
        if isinstance(number, int) and not isinstance(number, bool):
            self.last = number
        self.received += 1
        if isinstance(event, Candidate):
            self.candidates[event.index] = event
        return event

    def cancelled(self, start: float) -> Cancelled:
        return Cancelled(candidates=tuple(self.candidates.values()), seconds=time.perf_counter() - start)

    def lost(self, detail: str, *, resumed: str = "") -> RemoteError:
        reason = f": {detail}" if detail else ""
        return RemoteError(
            f"lost the connection to {self.url} during the run "
            f"({self.received} events received){resumed}{reason}"
        )


class RemoteBackend:
    """A server's models behind the ``Backend`` interface; holds no per-run state."""

    def __init__(self, server: _Server, info: BackendInfo, limits: Limits, *, jobs: bool = False) -> None:
        self._server = server
        self._info = info
        self.limits = limits
        self.jobs = jobs
        """The server keeps runs as jobs (queue positions, resuming after a dropped connection)."""

    @property
    def info(self) -> BackendInfo:
        return self._info

    @property
    def url(self) -> str:
        return self._server.url

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 600.0,
        info_timeout: float = INFO_TIMEOUT,
        on_wait: Callable[[str], None] | None = None,
    ) -> RemoteBackend:
        """Ask the server what it runs (``GET /v1/info``, within ``info_timeout`` s; ``on_wait`` hears
        "waiting for the server…" when it takes more than 3 s); ``timeout`` bounds each later wait."""
        server = _Server.parse(url, token, timeout)
        timer = None
        if on_wait is not None:
            timer = threading.Timer(WAIT_NOTICE_AFTER, on_wait, [f"waiting for the server at {server.url}…"])
            timer.daemon = True
            timer.start()
        try:
            data = server.call("GET", "/info", timeout=info_timeout)
        finally:
            if timer is not None:
                timer.cancel()
        return cls._from_info(server, data)

    @classmethod
    def _from_info(cls, server: _Server, data: Any) -> RemoteBackend:
        if not isinstance(data, dict):
            raise RemoteError(f"{server.url} did not answer like a GLIDE Studio server")
        api = data.get("api")
        if api != API_VERSION:
            newer = isinstance(api, int) and api > API_VERSION
            which = "GLIDE Studio here" if newer else "the server"
            raise RemoteError(
                f"the server at {server.url} speaks API version {clean_text(api, limit=20)}, "
                f"this GLIDE Studio speaks {API_VERSION}: update {which} so both match"
            )
        try:
            info = info_from_wire(data, where=server.url, host=server.host)
            limits = Limits.from_dict(data.get("limits", {}))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RemoteError(
                f"{server.url} did not answer like a GLIDE Studio server: {clean_text(exc, limit=200)}"
            ) from exc
        features = data.get("features")
        jobs = isinstance(features, list) and "jobs" in features
        return cls(server, info, limits, jobs=jobs)

    def prepare(self, preparation: Preparation, *, cancel: CancelToken | None = None) -> dict[str, float]:
        """Nothing to do ahead here: the server keeps its own models warm."""
        return {}

    def run(self, request: EditRequest, *, cancel: CancelToken | None = None) -> Generator[Event, None, None]:
        """Stream the server's events; a set ``cancel`` ends the stream with ``Cancelled``."""
        if self.jobs:
            return self._run_job(request, cancel)
        return self._run_stream(request, cancel)

    # -- a server with jobs --------------------------------------------------------------------

    def submit(self, request: EditRequest) -> dict[str, Any]:
        """``POST /v1/jobs``: the job's id and place in the queue (a full queue is a RemoteError
        with ``status`` 429 and ``retry_after``)."""
        body = json.dumps(request_to_wire(request), separators=(",", ":")).encode("utf-8")
        answer = self._server.call("POST", "/jobs", body, timeout=self._server.timeout)
        if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
            raise RemoteError(f"{self.url} did not answer with a job")
        job = answer["id"]
        if not job.isascii() or not job.replace("-", "").replace("_", "").isalnum() or len(job) > 64:
            raise RemoteError(f"{self.url} answered with a malformed job id")
        return answer

    def cancel_job(self, job: str) -> None:
        """``DELETE /v1/jobs/{id}``; a job that already ended or is unknown is no error."""
        with contextlib.suppress(RemoteError):
            self._server.call("DELETE", f"/jobs/{job}", timeout=10)

    def _run_job(self, request: EditRequest, cancel: CancelToken | None) -> Generator[Event, None, None]:
        start = time.perf_counter()
        if cancel is not None and cancel.cancelled:
            yield Cancelled(candidates=(), seconds=0.0)
            return
        job = self.submit(request)["id"]
        events = _Events(self.url, request)
        live = _Live()
        if cancel is not None:
            threading.Thread(target=self._watch, args=(job, cancel, live), daemon=True).start()
        ended = False
        failures = 0
        try:
            while True:
                try:
                    for event in self._follow(job, events, live):
                        failures = 0
                        yield event
                        if isinstance(event, _TERMINAL):
                            ended = True
                            return
                    raise _Dropped("")
                except (_Dropped, RemoteError) as exc:
                    if cancel is not None and cancel.cancelled:
                        ended = True
                        yield events.cancelled(start)
                        return
                    if isinstance(exc, RemoteError) and exc.status is not None:
                        raise events.lost(str(exc), resumed=", and the job is gone") from exc
                    failures += 1
                    if failures > RESUME_TRIES:
                        raise events.lost(str(exc), resumed=f"; {RESUME_TRIES} reconnections failed") from exc
                    if _sleep(min(8.0, 0.5 * 2 ** (failures - 1)), cancel):
                        ended = True
                        yield events.cancelled(start)
                        return
        finally:
            live.done.set()
            if not ended:  # the consumer stopped iterating, or the run broke: nobody will fetch it
                self.cancel_job(job)

    def _follow(self, job: str, events: _Events, live: _Live) -> Iterator[Event]:
        """The job's events after the last one received, on a new connection."""
        conn = self._server.connection()
        live.conn = conn
        try:
            response = self._server.send(
                conn, "GET", f"/jobs/{job}/events?after={events.last}", connected=live.attach
            )
            yield from events.read(response)
        finally:
            conn.close()

    def _watch(self, job: str, cancel: CancelToken, live: _Live) -> None:
        """Cancel the job on the server as soon as the token is set, then unblock the reader."""
        while not live.done.is_set() and not cancel.wait(0.05):
            pass
        if live.done.is_set():
            return
        self.cancel_job(job)
        live.shut()

    # -- a server without jobs (before they existed) --------------------------------------------

    def _run_stream(self, request: EditRequest, cancel: CancelToken | None) -> Generator[Event, None, None]:
        start = time.perf_counter()
        body = json.dumps(request_to_wire(request), separators=(",", ":")).encode("utf-8")
        conn = self._server.connection()
        live = _Live()
        live.conn = conn
        if cancel is not None:  # watching from the start: a request still queued can be cancelled too
            threading.Thread(target=_shut_on_cancel, args=(cancel, live), daemon=True).start()
        events = _Events(self.url, request)
        try:
            try:
                response = self._server.send(conn, "POST", "/edit", body, connected=live.attach)
            except RemoteError:
                if cancel is not None and cancel.cancelled:
                    yield Cancelled(candidates=(), seconds=time.perf_counter() - start)
                    return
                raise
            try:
                for event in events.read(response):
                    yield event
                    if isinstance(event, _TERMINAL):
                        return
                raise _Dropped("")
            except _Dropped as exc:
                if cancel is not None and cancel.cancelled:
                    yield events.cancelled(start)
                    return
                raise events.lost(str(exc)) from None
        finally:
            live.done.set()
            conn.close()


class _Live:
    """The connection a run reads now, so that a cancel from another thread can unblock it."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.conn: http.client.HTTPConnection | None = None
        self.sock: socket.socket | None = None

    def attach(self, sock: socket.socket) -> None:
        self.sock = sock

    def shut(self) -> bool:
        sock = self.sock or (self.conn.sock if self.conn is not None else None)
        if sock is None:
            return False
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        return True


def _shut_on_cancel(cancel: CancelToken, live: _Live) -> None:
    """Unblock a send or a read waiting on the server as soon as the token is set."""
    while not live.done.is_set() and not cancel.wait(0.05):
        pass
    while not live.done.is_set():
        if live.shut():
            return
        live.done.wait(0.05)  # not connected yet: shut the socket as soon as it exists


def _sleep(seconds: float, cancel: CancelToken | None) -> bool:
    """Wait before reconnecting; True when the run was cancelled meanwhile."""
    if cancel is None:
        time.sleep(seconds)
        return False
    return cancel.wait(seconds)
