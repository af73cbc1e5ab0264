"""The client trusts nothing a server sends, and resumes a job after a dropped connection:
hostile lines from a loopback fake server, no Ray needed."""

from __future__ import annotations

import base64
import http.server
import io
import json
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from serve_helpers import demo_request

from glide_studio.core.generation.cancel import CancelToken
from glide_studio.core.generation.events import (
    Cancelled,
    Candidate,
    Failed,
    Finished,
    Preview,
    Queued,
    Started,
)
from glide_studio.core.remote import client as client_module
from glide_studio.core.remote import wire
from glide_studio.core.remote.client import RemoteBackend, RemoteError
from glide_studio.core.remote.wire import WireError, clean_text, event_from_wire
from glide_studio.core.runtime.engine import load_local_backend
from glide_studio.serve.service import EditRunner, ServiceConfig

REQUEST = demo_request(steps=4, candidates=2)  # a 40×52 picture


@pytest.fixture(scope="module")
def runner() -> EditRunner:
    return EditRunner(load_local_backend(demo=True, device="cpu"), ServiceConfig(demo=True))


@pytest.fixture(scope="module")
def good_lines(runner) -> list[bytes]:
    return list(runner.lines(REQUEST, CancelToken()))


class FakeServer(http.server.BaseHTTPRequestHandler):
    """A loopback server whose answers each test sets: ``info``, ``lines`` (for /v1/edit and job
    events, numbered like the real server's), ``drops`` (connections cut after N lines) and
    ``info_delay``. It records every request line."""

    protocol_version = "HTTP/1.1"

    def _json(self, status: int, data) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        srv = self.server
        srv.seen.append(f"GET {self.path}")
        if self.path.endswith("/info"):
            time.sleep(srv.info_delay)
            return self._json(200, srv.info)
        after = int(parse_qs(urlsplit(self.path).query).get("after", ["0"])[0])
        numbered = [b'{"n":%d,' % (k + 1) + line[1:] for k, line in enumerate(srv.lines)]
        self._stream([line for k, line in enumerate(numbered) if k + 1 > after])

    def do_POST(self):
        self.server.seen.append(f"POST {self.path}")
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.path.endswith("/jobs"):
            return self._json(202, {"id": "job-1", "state": "queued", "position": 2})
        self._stream(self.server.lines)

    def do_DELETE(self):
        self.server.seen.append(f"DELETE {self.path}")
        self._json(200, {"id": "job-1", "state": "cancelled"})

    def _stream(self, lines: list[bytes]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        drops = self.server.drops
        cut = drops.pop(0) if drops else None
        for k, line in enumerate(lines):
            if cut is not None and k == cut:
                self.wfile.write(f"{len(line):x}\r\n".encode() + line[: len(line) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            if self.server.pause:
                time.sleep(self.server.pause)
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args):
        pass


@pytest.fixture()
def fake(runner) -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeServer)
    server.daemon_threads = True
    server.info, server.lines, server.drops, server.seen = dict(runner.info()), [], [], []
    server.info_delay, server.pause = 0.0, 0.0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_port}"
    yield server
    server.shutdown()
    server.server_close()


def _png(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _line(data: dict) -> bytes:
    return json.dumps(data).encode() + b"\n"


def _edit(lines: list[dict | bytes], index: int) -> list[bytes]:
    return [line if isinstance(line, bytes) else _line(line) for line in lines[:index]]


def _decoded(lines: list[bytes]) -> list[dict]:
    return [json.loads(line) for line in lines]


def _hostile_runs(good: list[bytes]) -> list[tuple[str, list[bytes], str]]:
    events = _decoded(good)
    first_candidate = next(k for k, e in enumerate(events) if e["event"] == "candidate")
    cand = events[first_candidate]

    def with_candidate(**changes) -> list[bytes]:
        return [*_edit(events, first_candidate), _line({**cand, **changes})]

    gray = np.zeros((cand["box"][3] - cand["box"][1], cand["box"][2] - cand["box"][0]), np.uint8)
    deep = b'{"event":"failed","message":' + b"[" * 50 + b"]" * 50 + b"}\n"
    return [
        ("candidate index beyond those asked", with_candidate(index=2), "from 0 to 1"),
        ("candidate index negative", with_candidate(index=-1), "from 0 to 1"),
        ("candidate sent twice", [*with_candidate(), _line(cand)], "arrived twice"),
        ("patch of the wrong shape", with_candidate(box=[0, 0, 3, 3]), "limit of 9 pixels"),
        ("patch in gray", with_candidate(patch=_png(gray)), "its box needs"),
        ("box outside the picture", with_candidate(box=[40, 30, 70, 60]), "outside the 52×40 picture"),
        ("box of strings", with_candidate(box=["0", 0, 1, 1]), "four whole numbers"),
        (
            "finished naming an unsent candidate",
            [*_edit(events, 1), _line({"event": "finished", "candidates": [0]})],
            "never sent",
        ),
        (
            "a preview of more images than asked",
            [*_edit(events, 1), _line({**events[1], "images": events[1]["images"] * 3})],
            "6 images for 2 candidates",
        ),
        ("started with a box far away", [_line({**events[0], "box": [9000, 9000, 9100, 9100]})], "outside"),
        ("deep JSON", [deep], "nested"),
        ("not an object", [b"[1, 2]\n"], "JSON object"),
        (
            "NaN seconds",
            [*_edit(events, len(events) - 1), b'{"event":"finished","seconds":NaN}\n'],
            "not a number",
        ),
    ]


def test_hostile_events_end_the_run_with_a_clear_error(fake, good_lines):
    engine = RemoteBackend.connect(fake.url)
    assert not engine.jobs
    for name, lines, words in _hostile_runs(good_lines):
        fake.lines = lines
        with pytest.raises(RemoteError, match="unreadable event") as caught:
            list(engine.run(REQUEST))
        assert words in str(caught.value), (name, str(caught.value))


def test_unknown_events_are_skipped_and_control_characters_escaped(fake, good_lines):
    engine = RemoteBackend.connect(fake.url)
    future = [_line({"event": "thumbnail", "data": "…"}), _line({"event": 7})]
    fake.lines = future + good_lines
    events = list(engine.run(REQUEST))
    assert isinstance(events[0], Started) and isinstance(events[-1], Finished)  # the new kinds skipped
    fake.lines = [_line({"event": "failed", "message": "bad\x1b[2J\x1b]0;owned\x07 \u202etxt.exe\nline two"})]
    failed = list(engine.run(REQUEST))[-1]
    assert isinstance(failed, Failed)
    assert "\x1b" not in failed.message and "\u202e" not in failed.message and "\n" not in failed.message
    assert failed.message == "bad\\x1b[2J\\x1b]0;owned\\x07 \\u202etxt.exe\\x0aline two"
    assert clean_text("x" * 5000).endswith("…") and len(clean_text("x" * 5000)) == 2001


def test_a_line_over_the_cap_is_refused_without_reading_it_all(fake, good_lines, monkeypatch):
    monkeypatch.setattr(client_module, "MAX_LINE_BYTES", 4096)
    engine = RemoteBackend.connect(fake.url)
    fake.lines = [_line({"event": "failed", "message": "x" * 100_000})]
    with pytest.raises(RemoteError, match="sent an event line over 4096 bytes"):
        list(engine.run(REQUEST))
    assert wire.MAX_LINE_BYTES == 64 * 2**20


def test_info_has_a_short_timeout_and_says_it_waits(fake, monkeypatch):
    monkeypatch.setattr(client_module, "WAIT_NOTICE_AFTER", 0.05)
    fake.info_delay = 3.0
    heard: list[str] = []
    with pytest.raises(RemoteError, match=r"did not answer within 1 s"):
        RemoteBackend.connect(fake.url, info_timeout=1.0, on_wait=heard.append)
    assert heard == [f"waiting for the server at {fake.url}…"]
    assert client_module.INFO_TIMEOUT == 15.0


@pytest.mark.parametrize(
    ("api", "words"),
    [
        (2, "speaks API version 2, this GLIDE Studio speaks 1: update GLIDE Studio here"),
        (None, "update the server"),
    ],
)
def test_a_server_of_another_api_version_is_named(fake, api, words):
    fake.info["api"] = api
    with pytest.raises(RemoteError, match=words):
        RemoteBackend.connect(fake.url)


def test_hostile_info_is_escaped_or_refused(fake):
    fake.info["description"] = "demo\x1b[31m red"
    assert "\x1b" not in RemoteBackend.connect(fake.url).info.description
    fake.info["stages"] = "none"
    with pytest.raises(RemoteError, match="did not answer like a GLIDE Studio server"):
        RemoteBackend.connect(fake.url)


# -- jobs: resume after a dropped connection -----------------------------------------------


def test_a_job_resumes_where_the_connection_dropped(fake, good_lines, monkeypatch):
    monkeypatch.setattr(client_module, "_sleep", lambda seconds, cancel: False)
    fake.info["features"] = ["jobs", "resume", "queue"]
    fake.lines = [
        _line({"event": "queued", "position": 2}),
        _line({"event": "queued", "position": 1}),
        *good_lines,
    ]
    fake.drops = [3, 2, 0]  # three connections cut: mid-line after 3 lines, after 2 more, at once
    engine = RemoteBackend.connect(fake.url)
    assert engine.jobs
    events = list(engine.run(REQUEST))
    assert [e.position for e in events if isinstance(e, Queued)] == [2, 1]
    local = list(load_local_backend(demo=True, device="cpu").run(REQUEST))
    assert [type(e) for e in events if not isinstance(e, Queued)] == [type(e) for e in local]
    for ours, theirs in zip(events[-1].candidates, local[-1].candidates, strict=True):
        assert np.array_equal(ours.image, theirs.image)
    follows = [line for line in fake.seen if "/events" in line]
    assert follows == [
        "GET /v1/jobs/job-1/events?after=0",
        "GET /v1/jobs/job-1/events?after=3",  # the fourth line was cut mid-way: asked again
        "GET /v1/jobs/job-1/events?after=5",
        "GET /v1/jobs/job-1/events?after=5",
    ]
    assert not any(line.startswith("DELETE") for line in fake.seen)


def test_a_job_that_cannot_be_resumed_is_reported_and_cancelled(fake, good_lines, monkeypatch):
    monkeypatch.setattr(client_module, "_sleep", lambda seconds, cancel: False)
    fake.info["features"] = ["jobs"]
    fake.lines = good_lines
    fake.drops = [2] + [0] * 10
    engine = RemoteBackend.connect(fake.url)
    with pytest.raises(
        RemoteError, match=r"lost the connection .* \(2 events received\); 6 reconnections failed"
    ):
        list(engine.run(REQUEST))
    assert fake.seen[-1] == "DELETE /v1/jobs/job-1"  # nobody will fetch it: the server may stop it


def test_cancel_and_closing_the_stream_cancel_the_job_on_the_server(fake, good_lines):
    fake.info["features"] = ["jobs"]
    fake.lines, fake.pause = good_lines, 0.2
    engine = RemoteBackend.connect(fake.url)
    token = CancelToken()
    seen = []
    for event in engine.run(REQUEST, cancel=token):
        seen.append(event)
        if isinstance(event, Preview):
            token.cancel()
    assert isinstance(seen[-1], Cancelled) and "DELETE /v1/jobs/job-1" in fake.seen
    fake.seen.clear()
    stream = engine.run(REQUEST)
    assert isinstance(next(stream), Started)
    stream.close()
    assert fake.seen[-1] == "DELETE /v1/jobs/job-1"


# -- a property: whatever a server sends, the client's own error or an event -------------------

_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=80, deadline=None)
@given(
    kind=st.sampled_from(
        ["started", "preview", "candidate", "finished", "cancelled", "failed", "queued", "x"]
    ),
    key=st.sampled_from(
        [
            "box",
            "index",
            "seed",
            "images",
            "patch",
            "stages",
            "steps",
            "seeds",
            "step",
            "total",
            "first",
            "candidates",
            "seconds",
            "message",
            "position",
            "stage",
        ]
    ),
    value=_VALUES,
)
def test_any_malformed_event_is_the_clients_own_error(kind, key, value):
    image = np.zeros((40, 52, 3), np.uint8)
    patch = _png(np.zeros((4, 4, 3), np.uint8))
    base = {
        "started": {"stages": ["base"], "steps": [4], "seeds": [1], "box": [0, 0, 52, 40]},
        "preview": {"stage": "base", "step": 1, "total": 4, "box": [0, 0, 52, 40], "images": [patch]},
        "candidate": {"index": 0, "seed": 1, "box": [0, 0, 4, 4], "patch": patch},
        "finished": {"seconds": 1.0, "candidates": []},
        "cancelled": {"seconds": 1.0, "candidates": []},
        "failed": {"message": "x"},
        "queued": {"position": 1},
        "x": {},
    }[kind]
    data = {"event": kind, **base, key: value}
    try:
        event = event_from_wire(data, original=image, candidates={}, asked=2)
    except WireError:
        return
    assert event is None or isinstance(
        event, Started | Preview | Candidate | Finished | Cancelled | Failed | Queued
    )
