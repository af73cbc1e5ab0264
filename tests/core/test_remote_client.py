"""The remote client against a scripted stand-in server: no Ray, no models, only the standard library.

The stand-in answers ``GET /v1/info`` with ``info_to_wire`` and ``POST /v1/edit``
with NDJSON lines scripted per test, the way the real ingress does (HTTP/1.1,
chunked), and records what it received, so every test checks what crossed the
wire in both directions and how the client ends a stream: finished, failed,
unreadable, dropped or cancelled.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from glide_studio.core.generation.backend import BackendInfo, Capabilities, Preparation
from glide_studio.core.generation.cancel import CancelToken
from glide_studio.core.generation.events import (
    Cancelled,
    Candidate,
    Event,
    Failed,
    Finished,
    Preview,
    Started,
)
from glide_studio.core.generation.presets import RecommendedSampling
from glide_studio.core.generation.request import OUTPAINT, EditRequest, StageSettings
from glide_studio.core.imaging.region import Box
from glide_studio.core.remote.client import RemoteBackend, RemoteError
from glide_studio.core.remote.wire import (
    Limits,
    dumps_line,
    event_to_wire,
    info_to_wire,
    request_from_wire,
)

TOKEN = "fake-token"
SAFETY_SECONDS = 10.0
"""Only ever reached when something is broken: every wait below ends on an event first."""

SAMPLING = RecommendedSampling(
    base=StageSettings(sampler="dpm++2m", steps="20"),
    upsample=StageSettings(sampler="ddim", steps="10"),
    guidance_scale=4.0,
)
INFO = BackendInfo(
    description="GLIDE inpainting",
    device_label="GPU: Fake Accelerator",
    base_resolution=64,
    upsample_resolution=256,
    missing=("clip_image_enc.pt",),
    notice="the upsampler runs in bfloat16",
    sampling=SAMPLING,
    capabilities=Capabilities(text2im=True, clip=False, outpaint=True, detail=True),
    precision="float32 base-inpaint, bfloat16 upsample-inpaint",
)
LIMITS = Limits(max_body_bytes=1_000_000, max_pixels=250_000, max_prompt_chars=300, max_candidates=4)

HEIGHT, WIDTH = 24, 32
BOX = Box(4, 2, 20, 18)
"""The region the stand-in "model" saw: inside the 32 × 24 picture, 16 × 16."""

HOLD = "hold"
"""Script step: wait until the client closes its connection (or the safety timeout), then stop."""
DROP = "drop"
"""Script step: hang up mid-stream, without the final chunk."""


# -- the stand-in server ------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One request as the stand-in saw it."""

    method: str
    path: str
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes

    def edit(self) -> EditRequest:
        return request_from_wire(json.loads(self.body), limits=Limits())


class FakeServer(ThreadingHTTPServer):
    """Scripted answers on 127.0.0.1; each test sets what it needs before connecting."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server_port}"
        self.token: str | None = TOKEN
        self.info_body = json.dumps(info_to_wire(INFO, limits=LIMITS, auth=True, version="9.9.9")).encode()
        self.refusal: tuple[int, bytes, str] | None = None
        """(status, body, content type) answered to every request instead of the script."""
        self.connection_close = False
        """Answer the edit with ``Connection: close`` (as HTTP/1.0 servers and some proxies do)."""
        self.script: list[bytes | str] = []
        self.hold_seconds = SAFETY_SECONDS
        self.received: list[Received] = []
        self.posted = threading.Event()
        self.holds: queue.Queue[str] = queue.Queue()
        """Each HOLD's outcome: "closed" (the client hung up) or "timed out"."""
        self.write_errors: list[str] = []
        self.stopping = threading.Event()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # chunked streaming on a kept-alive connection, like uvicorn
    server: FakeServer

    def do_GET(self) -> None:
        if self._receive(b""):
            self._answer(200, self.server.info_body, "application/json")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if not self._receive(body):
            return
        self.server.posted.set()
        self.close_connection = True  # one run per connection, as the client uses them
        started = False
        try:
            for step in self.server.script:
                if step == HOLD:
                    if self._hold():
                        return
                    continue
                if step == DROP:
                    self.wfile.flush()
                    return
                if not started:
                    self._start_stream()
                    started = True
                assert isinstance(step, bytes)
                self.wfile.write(f"{len(step):x}\r\n".encode() + step + b"\r\n")
            if not started:
                self._start_stream()
            self.wfile.write(b"0\r\n\r\n")
        except OSError as exc:  # the client went away while lines were still coming
            self.server.write_errors.append(type(exc).__name__)

    def _receive(self, body: bytes) -> bool:
        """Record the request; False when it was answered with a refusal."""
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.received.append(Received(self.command, self.path, headers, body))
        if self.server.refusal is not None:
            self._answer(*self.server.refusal)
            return False
        if self.server.token is not None and headers.get("authorization") != f"Bearer {self.server.token}":
            error = {"error": "a valid bearer token is required (Authorization: Bearer TOKEN)", "status": 401}
            self._answer(401, json.dumps(error).encode(), "application/json")
            return False
        return True

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        if self.server.connection_close:
            self.send_header("Connection", "close")
        self.end_headers()

    def _hold(self) -> bool:
        """Wait for the client to hang up; True when it did."""
        deadline = time.monotonic() + self.server.hold_seconds
        self.connection.settimeout(0.01)
        try:
            while time.monotonic() < deadline and not self.server.stopping.is_set():
                try:
                    if self.connection.recv(1) == b"":
                        self.server.holds.put("closed")
                        return True
                except TimeoutError:
                    continue
                except OSError:  # reset rather than closed: hung up all the same
                    self.server.holds.put("closed")
                    return True
        finally:
            self.connection.settimeout(None)
        self.server.holds.put("timed out")
        return False

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[FakeServer]:
    """A fresh stand-in per test, stopped (with any handler still holding) afterwards."""
    fake = FakeServer()
    thread = threading.Thread(target=fake.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.stopping.set()
        fake.shutdown()
        fake.server_close()
        thread.join(SAFETY_SECONDS)


# -- what the tests send and script ------------------------------------------------------


def _request(**changes: Any) -> EditRequest:
    rng = np.random.default_rng(3)
    mask = np.zeros((HEIGHT, WIDTH), bool)
    mask[6:14, 8:16] = True
    settings: dict[str, Any] = {
        "prompt": "a red barn",
        "seed": 1234,
        "candidates": 2,
        "kind": OUTPAINT,
        "guidance_scale": 3.5,
        "base": StageSettings(sampler="ddim", steps="7"),
        "use_upsampler": False,
        **changes,
    }
    return EditRequest(image=rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8), mask=mask, **settings)


def _patch(value: int) -> np.ndarray:
    patch = np.full((BOX.height, BOX.width, 3), value, np.uint8)
    patch[::2, ::3] = 255 - value  # not flat: every pixel must travel
    return patch


def _candidate(index: int, value: int) -> Candidate:
    return Candidate(index=index, seed=1234 + index, box=BOX, patch=_patch(value))


def _line(event: Event) -> bytes:
    return dumps_line(event_to_wire(event))


STARTED = Started(stages=("base",), steps=(7,), seeds=(1234, 1235), box=BOX)
PREVIEW_IMAGES = tuple(np.random.default_rng(k).integers(0, 256, (8, 8, 4), dtype=np.uint8) for k in range(2))
PREVIEW = Preview(stage="base", step=1, total=7, box=BOX, images=PREVIEW_IMAGES)
FIRST, SECOND = _candidate(0, 40), _candidate(1, 200)


def _connect(server: FakeServer) -> RemoteBackend:
    return RemoteBackend.connect(server.url, token=TOKEN)


@dataclass
class _Consumer:
    """Runs the client's stream on its own thread, as the studio's worker does."""

    events: list[Event]
    errors: list[BaseException]
    thread: threading.Thread
    seen: dict[type, threading.Event]

    @classmethod
    def start(cls, backend: RemoteBackend, request: EditRequest, cancel: CancelToken) -> _Consumer:
        events: list[Event] = []
        errors: list[BaseException] = []
        seen = {kind: threading.Event() for kind in (Started, Preview, Candidate)}

        def consume() -> None:
            try:
                for event in backend.run(request, cancel=cancel):
                    events.append(event)
                    if type(event) in seen:
                        seen[type(event)].set()
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=consume, daemon=True)
        thread.start()
        return cls(events, errors, thread, seen)

    def finish(self) -> list[Event]:
        self.thread.join(SAFETY_SECONDS)
        assert not self.thread.is_alive(), "the client's stream never ended"
        assert not self.errors, self.errors
        return self.events


# -- connect ------------------------------------------------------------------------------


def test_connect_describes_the_server_as_remote(server: FakeServer) -> None:
    """What the studio shows and decides by comes from /v1/info, marked as being elsewhere."""
    backend = RemoteBackend.connect(server.url + "/", token=TOKEN)
    info = backend.info
    assert info.remote and not info.is_demo
    assert backend.url == server.url
    assert info.description == f"GLIDE inpainting on {server.url}"
    assert info.device_label == "GPU: Fake Accelerator at 127.0.0.1"
    assert (info.base_resolution, info.upsample_resolution) == (64, 256)
    assert info.sampling == SAMPLING
    assert info.capabilities == Capabilities(text2im=True, clip=False, outpaint=True, detail=True)
    assert info.missing == ("clip_image_enc.pt",)
    assert info.notice == f"The server at {server.url}: the upsampler runs in bfloat16"
    assert (info.precision, info.version) == (INFO.precision, "9.9.9")
    assert backend.limits == LIMITS

    (asked,) = server.received
    assert (asked.method, asked.path) == ("GET", "/v1/info")
    assert asked.headers["authorization"] == f"Bearer {TOKEN}"
    assert asked.headers["accept"] == "application/json"


def test_an_older_server_without_capabilities_cannot_outpaint(server: FakeServer) -> None:
    """Servers from before capabilities were announced could not outpaint: the client must not offer it."""
    data = info_to_wire(INFO, limits=LIMITS, auth=True, version="0.1")
    del data["capabilities"], data["sampling"], data["limits"]
    server.info_body = json.dumps(data).encode()
    backend = _connect(server)
    assert backend.info.capabilities.outpaint is False
    assert backend.info.sampling is None
    assert backend.limits == Limits()


def test_a_path_in_the_address_prefixes_every_endpoint(server: FakeServer) -> None:
    """A server behind a reverse proxy's sub-path is reached under that path."""
    backend = RemoteBackend.connect(f"{server.url}/glide/", token=TOKEN)
    assert backend.url == f"{server.url}/glide"
    server.script = [_line(STARTED), _line(Finished(candidates=(), seconds=0.1))]
    list(backend.run(_request()))
    assert [r.path for r in server.received] == ["/glide/v1/info", "/glide/v1/edit"]


def test_a_refused_token_names_the_status_and_the_servers_reason(server: FakeServer) -> None:
    """The user must see that the token, not the network, is wrong."""
    with pytest.raises(RemoteError, match=r"HTTP 401\): a valid bearer token is required"):
        RemoteBackend.connect(server.url, token="wrong")
    with pytest.raises(RemoteError, match="HTTP 401"):
        RemoteBackend.connect(server.url)
    assert [r.headers.get("authorization") for r in server.received] == ["Bearer wrong", None]


def test_a_refusal_without_json_names_the_http_reason(server: FakeServer) -> None:
    """A proxy in front of the server answers in HTML: its status line is the best reason there is."""
    server.refusal = (502, b"<html><body>upstream down</body></html>", "text/html")
    with pytest.raises(RemoteError, match=r"HTTP 502\): Bad Gateway"):
        _connect(server)


@pytest.mark.parametrize(
    "body",
    [b"<html>It works!</html>", b'{"api": 1, "description": "x"}', b"[1, 2, 3]", b'"hello"'],
    ids=["not-json", "missing-keys", "a-list", "a-string"],
)
def test_something_else_listening_is_not_taken_for_a_server(server: FakeServer, body: bytes) -> None:
    """A wrong port must say so, not fail later with a KeyError."""
    server.info_body = body
    with pytest.raises(RemoteError, match="did not answer like a GLIDE Studio server"):
        _connect(server)


def test_nothing_listening_is_a_clear_error() -> None:
    """A server that is not running is named, not a bare ConnectionRefusedError."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(RemoteError, match=f"cannot reach the server at http://127.0.0.1:{port}"):
        RemoteBackend.connect(f"http://127.0.0.1:{port}")


def test_a_silent_server_times_out_with_a_clear_error() -> None:
    """A server that accepts but never answers must not hang the studio forever."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts connections (the kernel does), never answers
    try:
        with pytest.raises(RemoteError, match=r"did not answer within 0\.05 s"):
            RemoteBackend.connect(f"http://127.0.0.1:{silent.getsockname()[1]}", info_timeout=0.05)
    finally:
        silent.close()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://gpu-box", "not a server address"),
        ("http://", "not a server address"),
        ("http://gpu-box:99999", "bad port"),
        ("http://gpu-box:port", "bad port"),
    ],
)
def test_bad_addresses_are_refused_before_connecting(url: str, words: str) -> None:
    with pytest.raises(RemoteError, match=words):
        RemoteBackend.connect(url)


# -- run ----------------------------------------------------------------------------------


def test_the_request_arrives_intact(server: FakeServer) -> None:
    """What the server runs must be exactly what was asked: same pixels, same settings."""
    backend = _connect(server)
    request = _request()
    server.script = [_line(STARTED), _line(Finished(candidates=(), seconds=0.1))]
    list(backend.run(request))

    edit = server.received[-1]
    assert (edit.method, edit.path) == ("POST", "/v1/edit")
    assert edit.headers["content-type"] == "application/json"
    assert edit.headers["authorization"] == f"Bearer {TOKEN}"
    arrived = edit.edit()
    assert (arrived.prompt, arrived.seed, arrived.candidates, arrived.kind) == (
        "a red barn",
        1234,
        2,
        OUTPAINT,
    )
    assert (arrived.guidance_scale, arrived.base, arrived.use_upsampler) == (3.5, request.base, False)
    assert arrived.image.dtype == np.uint8 and np.array_equal(arrived.image, request.image)
    assert arrived.mask.dtype == bool and np.array_equal(arrived.mask, request.mask)
    assert arrived.sketch is None


def test_events_come_back_in_order_and_typed(server: FakeServer) -> None:
    """The studio draws from event types and fields, exactly as for a local run."""
    backend = _connect(server)
    request = _request()
    server.script = [
        _line(STARTED),
        _line(PREVIEW),
        _line(FIRST),
        _line(SECOND),
        _line(Finished(candidates=(FIRST, SECOND), seconds=1.5)),
    ]
    events = list(backend.run(request))

    assert [type(e) for e in events] == [Started, Preview, Candidate, Candidate, Finished]
    started, preview, first, second, finished = events
    assert started == STARTED
    assert (preview.stage, preview.step, preview.total, preview.box) == ("base", 1, 7, BOX)
    assert all(np.array_equal(a, b) for a, b in zip(preview.images, PREVIEW_IMAGES, strict=True))
    assert (first.index, first.seed, first.box) == (0, 1234, BOX)
    assert (second.index, second.seed) == (1, 1235)
    assert finished.candidates == (first, second)  # the very objects received, not copies
    assert finished.seconds == 1.5


def test_a_candidate_is_composed_on_the_clients_own_picture(server: FakeServer) -> None:
    """Only the patch travels: the whole result is the local original with the patch pasted in."""
    backend = _connect(server)
    request = _request()
    server.script = [_line(STARTED), _line(FIRST), _line(Finished(candidates=(FIRST,), seconds=0.2))]
    candidate = next(e for e in backend.run(request) if isinstance(e, Candidate))

    assert candidate.original is request.image
    assert np.array_equal(candidate.patch, _patch(40))
    image = candidate.image
    assert image.shape == request.image.shape
    assert np.array_equal(image[BOX.slices], _patch(40))
    outside = np.ones((HEIGHT, WIDTH), bool)
    outside[BOX.slices] = False
    assert np.array_equal(image[outside], request.image[outside])


def test_finished_keeps_only_the_candidates_it_names(server: FakeServer) -> None:
    """A server that finishes with fewer candidates than it sent is believed, in its order."""
    backend = _connect(server)
    server.script = [
        _line(STARTED),
        _line(FIRST),
        _line(SECOND),
        dumps_line({"event": "finished", "seconds": 1.0, "candidates": [1]}),
    ]
    events = list(backend.run(_request()))
    assert events[-1].candidates == (events[2],)


def test_a_failure_on_the_server_ends_the_stream_as_failed(server: FakeServer) -> None:
    """Failed is reported, not raised, and nothing after it is read."""
    backend = _connect(server)
    server.script = [
        _line(STARTED),
        _line(Failed("The server ran out of memory. Try fewer candidates.")),
        _line(PREVIEW),
        _line(Finished(candidates=(), seconds=1.0)),
    ]
    events = list(backend.run(_request()))
    assert [type(e) for e in events] == [Started, Failed]
    assert events[-1] == Failed("The server ran out of memory. Try fewer candidates.")


def test_a_refused_edit_names_the_status_and_the_servers_reason(server: FakeServer) -> None:
    """The gate's 413 must reach the user with its reason, not as a broken stream."""
    backend = _connect(server)
    error = {"error": "picture 'image' is 5000×5000, over this server's limit", "status": 413}
    server.refusal = (413, json.dumps(error).encode(), "application/json")
    with pytest.raises(RemoteError, match=r"HTTP 413\): picture 'image' is 5000×5000"):
        next(backend.run(_request()))


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(b"this is not json\n", id="not-json"),
        pytest.param(b'{"event": "preview", "stage": "base"}\n', id="missing-fields"),
        pytest.param(
            dumps_line({**event_to_wire(FIRST), "box": [0, 0, 4, 4]}), id="patch-does-not-fit-its-box"
        ),
        pytest.param(b"[1, 2, 3]\n", id="json-but-not-an-object"),
    ],
)
def test_an_unreadable_event_is_a_remote_error(server: FakeServer, line: bytes) -> None:
    """A broken or newer server must give a readable error, after the events that were fine."""
    backend = _connect(server)
    server.script = [_line(STARTED), line, _line(Finished(candidates=(), seconds=0.1))]
    received: list[Event] = []
    with pytest.raises(RemoteError, match="sent an unreadable event"):
        received.extend(backend.run(_request()))
    assert [type(e) for e in received] == [Started]


def test_a_connection_dropped_mid_stream_says_how_far_it_got(server: FakeServer) -> None:
    """The studio keeps what arrived and tells the user the link broke, not that the run failed."""
    backend = _connect(server)
    server.script = [_line(STARTED), _line(PREVIEW), _line(FIRST), DROP]
    received: list[Event] = []
    with pytest.raises(RemoteError, match=r"lost the connection to .* \(3 events received\)"):
        received.extend(backend.run(_request()))
    assert [type(e) for e in received] == [Started, Preview, Candidate]


def test_a_stream_that_ends_without_a_last_event_is_a_lost_connection(server: FakeServer) -> None:
    """A cleanly ended stream without Finished is not a success either."""
    backend = _connect(server)
    server.script = [_line(STARTED), _line(PREVIEW)]
    with pytest.raises(RemoteError, match=r"lost the connection .* \(2 events received\)"):
        list(backend.run(_request()))


# -- cancel -------------------------------------------------------------------------------


def test_cancel_mid_stream_keeps_the_candidates_and_hangs_up(server: FakeServer) -> None:
    """Esc in the studio: the stream ends as Cancelled at once, and the server is told by the hang-up."""
    backend = _connect(server)
    server.script = [
        _line(STARTED),
        _line(PREVIEW),
        _line(FIRST),
        HOLD,  # the second candidate is still being made
        _line(SECOND),
        _line(Finished(candidates=(FIRST, SECOND), seconds=9.0)),
    ]
    token = CancelToken()
    consumer = _Consumer.start(backend, _request(), token)
    assert consumer.seen[Candidate].wait(SAFETY_SECONDS)
    token.cancel()
    events = consumer.finish()

    assert server.holds.get(timeout=SAFETY_SECONDS) == "closed"
    assert [type(e) for e in events] == [Started, Preview, Candidate, Cancelled]
    assert events[-1].candidates == (events[2],)


def test_cancel_while_the_server_has_not_answered_yet(server: FakeServer) -> None:
    """A request still queued on the server can be cancelled too, before any event."""
    backend = _connect(server)
    server.script = [HOLD, _line(STARTED), _line(Finished(candidates=(), seconds=1.0))]
    token = CancelToken()
    consumer = _Consumer.start(backend, _request(), token)
    assert server.posted.wait(SAFETY_SECONDS)
    token.cancel()
    events = consumer.finish()

    assert server.holds.get(timeout=SAFETY_SECONDS) == "closed"
    assert [type(e) for e in events] == [Cancelled]
    assert events[0].candidates == ()


def test_closing_the_stream_hangs_up(server: FakeServer) -> None:
    """A consumer that simply stops iterating cancels the run on the server too."""
    backend = _connect(server)
    server.script = [_line(STARTED), HOLD, _line(Finished(candidates=(), seconds=1.0))]
    events = backend.run(_request())
    assert isinstance(next(events), Started)
    events.close()
    assert server.holds.get(timeout=SAFETY_SECONDS) == "closed"


def test_an_untouched_token_changes_nothing(server: FakeServer) -> None:
    """Watching the token must not end or alter a run nobody cancelled."""
    backend = _connect(server)
    server.script = [_line(STARTED), _line(FIRST), _line(Finished(candidates=(FIRST,), seconds=0.3))]
    events = list(backend.run(_request(), cancel=CancelToken()))
    assert [type(e) for e in events] == [Started, Candidate, Finished]


def test_cancel_mid_stream_hangs_up_on_a_connection_close_server(server: FakeServer) -> None:
    """Proxies and HTTP/1.0 servers answer with Connection: close; Esc must still stop the server."""
    backend = _connect(server)
    server.connection_close = True
    server.hold_seconds = 30  # a client that cannot hang up would wait this long for the next line
    server.script = [_line(STARTED), HOLD, _line(Finished(candidates=(), seconds=1.0))]
    token = CancelToken()
    consumer = _Consumer.start(backend, _request(), token)
    assert consumer.seen[Started].wait(SAFETY_SECONDS)
    token.cancel()
    events = consumer.finish()

    assert [type(e) for e in events] == [Started, Cancelled]
    assert server.holds.get(timeout=SAFETY_SECONDS) == "closed"


# -- prepare ------------------------------------------------------------------------------


def test_prepare_has_nothing_to_do_and_asks_nothing(server: FakeServer) -> None:
    """The server keeps its own models warm: preparing must not cost a round trip."""
    backend = _connect(server)
    before = len(server.received)
    assert backend.prepare(Preparation(prompt="a red barn", candidates=2), cancel=CancelToken()) == {}
    assert len(server.received) == before
