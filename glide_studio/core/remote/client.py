"""A Qt-free client for ``glide-studio serve``: a server's models as a ``Backend``.

``RemoteBackend.connect(url, token=...)`` asks the server what it runs;
``backend.run(request, cancel=token)`` streams the same events a local run
yields, rebuilt here (candidates composed onto the local original), so the CLI
and the studio's worker need not know where the models are.
Closing the generator or setting the token closes the connection, which the
server takes as a cancel. Only the standard library's ``http.client``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..generation.backend import BackendError, BackendInfo, Preparation
from ..generation.cancel import CancelToken
from ..generation.events import Cancelled, Candidate, Event, Failed, Finished
from ..generation.request import EditRequest
from .wire import API_VERSION, Limits, WireError, event_from_wire, info_from_wire, request_to_wire

__all__ = ["RemoteBackend", "RemoteError"]

_TERMINAL = (Finished, Cancelled, Failed)


class RemoteError(BackendError):
    """The server could not be reached, refused a request, or the connection broke."""


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

    def connection(self) -> http.client.HTTPConnection:
        factory = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return factory(self.host, self.port, timeout=self.timeout)

    def headers(self, **extra: str) -> dict[str, str]:
        headers = {"Accept": "application/json", **extra}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def open(self, method: str, path: str, body: bytes | None = None) -> tuple[Any, Any]:
        """Send one request; returns (connection, response) or raises RemoteError with the server's reason."""
        conn = self.connection()
        try:
            return conn, self.send(conn, method, path, body)
        except BaseException:
            conn.close()
            raise

    def send(
        self,
        conn: http.client.HTTPConnection,
        method: str,
        path: str,
        body: bytes | None,
        connected: Callable[[socket.socket], None] | None = None,
    ) -> Any:
        """The response to one request on ``conn``, once the server answers 200.

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
                f"the server at {self.url} did not answer within {self.timeout:g} s (busy or unreachable)"
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise RemoteError(f"cannot reach the server at {self.url}: {exc}") from exc
        if response.status != 200:
            detail = _error_text(response)
            raise RemoteError(
                f"the server at {self.url} refused the request (HTTP {response.status}): {detail}"
            )
        return response


def _error_text(response: Any) -> str:
    try:
        raw = response.read(65536)
        data = json.loads(raw)
        return str(data.get("error", raw[:200].decode("utf-8", "replace")))
    except (OSError, ValueError, AttributeError, http.client.HTTPException):
        return response.reason or "no reason given"


class RemoteBackend:
    """A server's models behind the ``Backend`` interface; holds no per-run state."""

    def __init__(self, server: _Server, info: BackendInfo, limits: Limits) -> None:
        self._server = server
        self._info = info
        self.limits = limits

    @property
    def info(self) -> BackendInfo:
        return self._info

    @property
    def url(self) -> str:
        return self._server.url

    @classmethod
    def connect(cls, url: str, *, token: str | None = None, timeout: float = 600.0) -> RemoteBackend:
        """Ask the server what it runs (``GET /v1/info``); ``timeout`` bounds each wait for data."""
        server = _Server.parse(url, token, timeout)
        conn, response = server.open("GET", "/info")
        try:
            data = json.loads(response.read())
            info = info_from_wire(data, where=server.url, host=server.host)
            limits = Limits.from_dict(data.get("limits", {}))
        except (OSError, ValueError, KeyError, TypeError, AttributeError, http.client.HTTPException) as exc:
            raise RemoteError(f"{server.url} did not answer like a GLIDE Studio server: {exc}") from exc
        finally:
            conn.close()
        return cls(server, info, limits)

    def prepare(self, preparation: Preparation, *, cancel: CancelToken | None = None) -> dict[str, float]:
        """Nothing to do ahead here: the server keeps its own models warm."""
        return {}

    def run(self, request: EditRequest, *, cancel: CancelToken | None = None) -> Generator[Event, None, None]:
        """Stream the server's events; a set ``cancel`` ends the stream with ``Cancelled``."""
        start = time.perf_counter()
        body = json.dumps(request_to_wire(request), separators=(",", ":")).encode("utf-8")
        conn = self._server.connection()
        done = threading.Event()
        sockets: list[socket.socket] = []
        if cancel is not None:  # watching from the start: a request still queued can be cancelled too
            watch = (cancel, done, conn, sockets)
            threading.Thread(target=_close_on_cancel, args=watch, daemon=True).start()
        candidates: dict[int, Candidate] = {}
        received = 0
        try:
            try:
                response = self._server.send(conn, "POST", "/edit", body, connected=sockets.append)
            except RemoteError:
                if cancel is not None and cancel.cancelled:
                    yield Cancelled(candidates=(), seconds=time.perf_counter() - start)
                    return
                raise
            while True:
                try:
                    line = response.readline()
                except (OSError, http.client.HTTPException, ValueError) as exc:
                    line, error = b"", exc
                else:
                    error = None
                if cancel is not None and cancel.cancelled:
                    yield Cancelled(
                        candidates=tuple(candidates.values()), seconds=time.perf_counter() - start
                    )
                    return
                if not line:
                    reason = f": {error}" if error else ""
                    raise RemoteError(
                        f"lost the connection to {self._server.url} during the run "
                        f"({received} events received){reason}"
                    )
                event = self._decode(line, request, candidates)
                received += 1
                if isinstance(event, Candidate):
                    candidates[event.index] = event
                yield event
                if isinstance(event, _TERMINAL):
                    return
        finally:
            done.set()
            conn.close()

    def _decode(self, line: bytes, request: EditRequest, candidates: Mapping[int, Candidate]) -> Event:
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise WireError(f"expected a JSON object, got {type(data).__name__}")
            return event_from_wire(data, original=request.image, candidates=candidates)
        except (ValueError, KeyError, TypeError, AttributeError, WireError) as exc:
            raise RemoteError(f"the server at {self._server.url} sent an unreadable event: {exc}") from exc


def _close_on_cancel(
    cancel: CancelToken,
    done: threading.Event,
    conn: http.client.HTTPConnection,
    sockets: list[socket.socket],
) -> None:
    """Unblock a send or a read waiting on the server as soon as the token is set."""
    while not done.is_set() and not cancel.wait(0.05):
        pass
    while not done.is_set():
        sock = sockets[0] if sockets else conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            return
        done.wait(0.05)  # not connected yet: shut the socket as soon as it exists
