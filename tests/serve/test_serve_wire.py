"""The wire format, the request gate and the client's failure handling: no Ray needed."""

from __future__ import annotations

import base64
import dataclasses
import http.server
import io
import json
import struct
import threading
import zlib

import numpy as np
import pytest
from PIL import Image
from serve_helpers import demo_request

from glide_studio.cli import main
from glide_studio.core.generation.cancel import CancelToken
from glide_studio.core.generation.events import Cancelled, Candidate, Failed, Finished, Preview, Started
from glide_studio.core.generation.request import EditRequest
from glide_studio.core.remote.client import RemoteBackend, RemoteError
from glide_studio.core.remote.wire import (
    Limits,
    WireError,
    decode_picture,
    event_from_wire,
    event_to_wire,
    request_from_wire,
    request_to_wire,
)
from glide_studio.core.runtime.engine import load_local_backend
from glide_studio.serve.service import EditRunner, RequestGate, ServiceConfig, is_loopback

LIMITS = Limits()


def _through_json(data):
    return json.loads(json.dumps(data))


def _png(array, fmt="PNG") -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode()


def test_a_request_survives_the_wire_field_for_field():
    request = demo_request(steps=7, candidates=3, seed=2**40).with_changes(upsample_temperature=0.9)
    if "sketch" in {f.name for f in dataclasses.fields(EditRequest)}:  # an extra picture travels too
        request = request.with_changes(sketch=np.flipud(request.image), strength=0.5)
    payload = _through_json(request_to_wire(request))
    # Every non-picture field of the request travels: new fields need no change here.
    names = {f.name for f in dataclasses.fields(EditRequest)}
    assert set(payload["settings"]) | set(payload["pictures"]) == names
    back = request_from_wire(payload, limits=LIMITS)
    for f in dataclasses.fields(EditRequest):
        ours, theirs = getattr(request, f.name), getattr(back, f.name)
        if isinstance(ours, np.ndarray):
            assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs), f.name
        else:
            assert ours == theirs, f.name


@pytest.mark.parametrize(
    ("change", "words", "status"),
    [
        (lambda p: p["settings"].update(strenght=0.5), "unknown request settings strenght", 400),
        (lambda p: p.update(extra=1), "exactly 'settings' and 'pictures'", 400),
        (lambda p: p.pop("pictures"), "exactly 'settings' and 'pictures'", 400),
        (lambda p: p["settings"].update(seed="7"), "'seed' has the wrong type", 400),
        (lambda p: p["settings"].update(use_upsampler=1), "'use_upsampler' has the wrong type", 400),
        (lambda p: p["settings"].update(candidates=17), "at most 16", 400),
        (lambda p: p["settings"].update(prompt="x" * 2001), "2001 characters", 400),
        (lambda p: p["settings"].update(base={"sampler": "ddim", "steps": "zero"}), "bad step setting", 400),
        (lambda p: p["pictures"].update(mask2=p["pictures"]["mask"]), "unknown pictures 'mask2'", 400),
        (lambda p: p["pictures"].update(prompt=p["pictures"]["mask"]), "both a setting and a picture", 400),
        (lambda p: p["pictures"].pop("mask"), "needs both", 400),
        (lambda p: p["pictures"]["image"].update(png="%%%"), "not valid base64", 400),
        (
            lambda p: p["pictures"]["image"].update(png=_png(np.zeros((8, 8, 3), np.uint8), "JPEG")),
            "not PNG",
            400,
        ),
        (
            lambda p: p["pictures"]["image"].update(png=_png(np.zeros((41, 52, 3), np.uint8))),
            "the mask is",
            400,
        ),
        (
            lambda p: p["pictures"]["mask"].update(png=_png(np.zeros((40, 52), np.uint8))),
            "mask is empty",
            400,
        ),
    ],
)
def test_bad_requests_are_refused_with_their_reason(change, words, status):
    payload = _through_json(request_to_wire(demo_request()))
    change(payload)
    with pytest.raises(WireError, match=words) as caught:
        request_from_wire(payload, limits=LIMITS)
    assert caught.value.status == status


def test_a_picture_is_measured_before_its_pixels_are_decoded():
    # 8000 × 8000 of one colour compresses to a few kilobytes but is 64 megapixels decoded.
    bomb = Image.new("1", (8000, 8000))
    buffer = io.BytesIO()
    bomb.save(buffer, format="PNG")
    assert len(buffer.getvalue()) < 300_000
    with pytest.raises(WireError, match="8000×8000, over this server's limit") as caught:
        decode_picture(
            base64.b64encode(buffer.getvalue()).decode(), name="image", max_pixels=LIMITS.max_pixels
        )
    assert caught.value.status == 413

    # A bare header claiming 100 000 × 100 000 pixels: Pillow itself refuses to open it.
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
    claim = base64.b64encode(png + chunk(b"IEND", b"")).decode()
    with pytest.raises(WireError, match="far over this server's limit") as caught:
        decode_picture(claim, name="image", max_pixels=LIMITS.max_pixels)
    assert caught.value.status == 413


def test_the_gate_checks_token_and_size_before_anything_else():
    gate = RequestGate(ServiceConfig(token="s3cret", limits=Limits(max_body_bytes=1000)))
    gate.authorize("Bearer s3cret")
    for header in (None, "", "Bearer wrong", "Basic s3cret", "s3cret"):
        with pytest.raises(WireError, match="bearer token") as caught:
            gate.authorize(header)
        assert caught.value.status == 401
    with pytest.raises(WireError, match="1001 bytes") as caught:
        gate.check_length("1001")
    assert caught.value.status == 413
    with pytest.raises(WireError, match="not valid JSON"):
        gate.parse_edit(b"{'settings': 1}")
    RequestGate(ServiceConfig(token=None)).authorize(None)  # loopback without a token
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("gpu-box")


@pytest.fixture(scope="module")
def demo_runner():
    return EditRunner(load_local_backend(demo=True, device="cpu"), ServiceConfig(demo=True))


def test_events_survive_the_wire(demo_runner):
    request = demo_request(steps=3, candidates=2)
    local = list(demo_runner.backend.run(request))
    received: dict[int, Candidate] = {}
    for event in local:
        back = event_from_wire(
            _through_json(event_to_wire(event)), original=request.image, candidates=received
        )
        assert type(back) is type(event)
        if isinstance(event, Started):
            assert back == event
        elif isinstance(event, Preview):
            assert (back.stage, back.step, back.total, back.box) == (
                event.stage,
                event.step,
                event.total,
                event.box,
            )
            assert all(np.array_equal(a, b) for a, b in zip(back.images, event.images, strict=True))
        elif isinstance(event, Candidate):
            assert (back.index, back.seed, back.box) == (event.index, event.seed, event.box)
            assert np.array_equal(back.image, event.image)
            received[back.index] = back
        elif isinstance(event, Finished):
            assert [c.index for c in back.candidates] == [0, 1]
    cancelled = event_from_wire(
        _through_json(event_to_wire(Cancelled(candidates=(received[1],), seconds=2.0))),
        original=request.image,
        candidates=received,
    )
    assert isinstance(cancelled, Cancelled) and cancelled.candidates == (received[1],)
    failed = event_from_wire(
        _through_json(event_to_wire(Failed("out of memory"))), original=request.image, candidates={}
    )
    assert failed == Failed("out of memory")


def test_the_runner_stops_between_steps_when_cancelled(demo_runner):
    token = CancelToken()
    lines = demo_runner.lines(demo_request(steps=200), token)
    kinds = [json.loads(next(lines))["event"] for _ in range(3)]
    token.cancel()
    rest = list(lines)
    assert kinds == ["started", "preview", "preview"]
    assert len(rest) <= 1  # at most the step that was under way when the token was set


# -- the client against a server that drops the connection ---------------------------


class _DroppingServer(http.server.BaseHTTPRequestHandler):
    """Answers /v1/info, then streams the first three lines of a real run and hangs up."""

    def do_GET(self):
        body = json.dumps(self.server.info).encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for line in self.server.lines[:3]:  # type: ignore[attr-defined]
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
        self.wfile.flush()
        self.close_connection = True  # no final chunk: the connection just ends

    def log_message(self, *args):
        pass


def test_connection_loss_mid_run_raises_a_clear_error(demo_runner):
    request = demo_request(steps=20)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _DroppingServer)
    server.info = demo_runner.info()  # type: ignore[attr-defined]
    server.lines = list(demo_runner.lines(request, CancelToken()))  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        engine = RemoteBackend.connect(f"http://127.0.0.1:{server.server_port}")
        assert engine.info.is_demo and engine.info.base_resolution == 32
        received = []
        with pytest.raises(RemoteError, match=r"lost the connection .* during the run \(3 events received\)"):
            for event in engine.run(request):
                received.append(event)
        assert [type(e) for e in received] == [Started, Preview, Preview]
    finally:
        server.shutdown()
        server.server_close()


def test_bad_server_addresses_are_named():
    with pytest.raises(RemoteError, match="not a server address"):
        RemoteBackend.connect("ftp://gpu-box")
    with pytest.raises(RemoteError, match="bad port"):
        RemoteBackend.connect("http://gpu-box:99999")


def test_serve_refuses_to_listen_beyond_loopback_without_a_token(monkeypatch, capsys):
    monkeypatch.delenv("GLIDE_STUDIO_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--demo"]) == 2
    assert "needs a bearer token" in capsys.readouterr().err
    assert main(["serve", "--address", "auto", "--demo"]) == 2
    assert "needs a bearer token" in capsys.readouterr().err
    assert main(["serve", "--replicas", "0"]) == 2
    assert "--replicas must be at least 1" in capsys.readouterr().err
    assert main(["serve", "--min-replicas", "2", "--max-replicas", "1"]) == 2
    assert "--max-replicas 1" in capsys.readouterr().err


BLOCKED_IMPORT = r"""
import importlib.abc, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"ray", "torch", "PySide6", "starlette"}:
            raise ImportError(f"{name} is blocked in this test")

sys.meta_path.insert(0, Block())
from glide_studio.core.remote.client import RemoteBackend
from glide_studio.serve.service import RequestGate
import glide_studio.commands.serve
print("ok")
"""


def test_the_client_and_the_gate_need_neither_ray_nor_torch():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", BLOCKED_IMPORT], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
