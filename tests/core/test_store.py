"""The model store: folder choice, messages for missing files, and downloads from a loopback server."""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import MappingProxyType

import platformdirs
import pytest
import torch

from glide_studio.core.model import build_model
from glide_studio.core.weights.released import RELEASED, ReleasedFile, released_options
from glide_studio.core.weights.store import (
    DownloadBusy,
    DownloadCancelled,
    DownloadError,
    MissingWeightsError,
    ModelStore,
    StoreError,
    VerificationError,
    default_folder,
)
from tiny_models import TINY_32

TINY = TINY_32
ENCODER = json.dumps({"a": 0, "b": 1, "ab": 2, "<|endoftext|>": 3}).encode()
MERGES = b"#version: 0.2\na b\n"


def tiny_files() -> dict[str, ReleasedFile]:
    """The released table with tiny models of the same variants, so downloads stay small."""
    files = dict(RELEASED)
    for name, entry in RELEASED.items():
        if entry.options is not None:
            flags = {k: entry.options[k] for k in ("inpaint", "super_res")}
            files[name] = replace(entry, options=MappingProxyType({**TINY, **flags}))
    return files


def checkpoint_bytes(name: str) -> bytes:
    torch.manual_seed(0)
    buffer = io.BytesIO()
    torch.save(build_model(tiny_files()[name].options).state_dict(), buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def payloads() -> dict[str, bytes]:
    """Bodies served under the released file names."""
    return {
        "base_inpaint.pt": checkpoint_bytes("base-inpaint"),
        "base.pt": checkpoint_bytes("base"),
        "encoder.json": ENCODER,
        "vocab.bpe": MERGES,
    }


class Server(ThreadingHTTPServer):
    """Serves ``files`` by name; ``mode`` picks a misbehaviour, ``requests`` records (path, Range)."""

    daemon_threads = True

    def __init__(self, files: dict[str, bytes]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.files = dict(files)
        self.mode = "normal"
        self.requests: list[tuple[str, str | None]] = []
        self.midway = threading.Event()
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/mirror"


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        body = srv.files.get(self.path.rsplit("/", 1)[-1])
        if body is None or srv.mode == "404":
            self.send_error(404, "Not Found")
        elif srv.mode in ("html", "disguised-html"):
            page = b"<!DOCTYPE html><html><body>Sign in to continue</body></html>"
            kind = "text/html; charset=utf-8" if srv.mode == "html" else "application/octet-stream"
            self._head(200, len(page), kind)
            self.wfile.write(page)
        else:
            self._body(body, first=len(srv.requests) == 1)

    def _head(self, status: int, length: int, kind: str = "application/octet-stream", **extra: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(length))
        for key, value in extra.items():
            self.send_header(key.replace("_", "-"), value)
        self.end_headers()

    def _body(self, body: bytes, *, first: bool) -> None:
        mode = self.server.mode
        asked = self.headers.get("Range")
        start = int(asked.split("=")[1].rstrip("-")) if asked and mode != "ignore-range" else 0
        if start >= len(body) > 0:
            self._head(416, 0, Content_Range=f"bytes */{len(body)}")
            return
        rest = body[start:]
        if start:
            self._head(206, len(rest), Content_Range=f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self._head(200, len(rest))
        if mode == "truncate" or (mode == "drop-once" and first):
            self.wfile.write(rest[: len(rest) // 2])
            self.close_connection = True
            return
        if mode == "slow":
            self.wfile.write(rest[: len(rest) // 2])
            self.wfile.flush()
            self.server.midway.set()
            self.server.release.wait(10)
            rest = rest[len(rest) // 2 :]
        self.wfile.write(rest)


@pytest.fixture
def server(payloads: dict[str, bytes]) -> Iterator[Server]:
    srv = Server(payloads)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def store(tmp_path: Path, server: Server) -> ModelStore:
    return ModelStore(tmp_path / "weights", mirror=server.url, files=tiny_files())


def leftovers(store: ModelStore) -> list[str]:
    """Everything in the folder: no lock files or partial downloads should stay behind."""
    return sorted(p.name for p in store.folder.iterdir())


# --- downloads ------------------------------------------------------------------------------------


def test_full_download_is_verified_and_reports_progress(store, server, payloads):
    seen: list[tuple[int, int | None]] = []
    path = store.download("base-inpaint", progress=lambda done, total: seen.append((done, total)))
    assert path == store.folder / "base_inpaint.pt"
    assert path.read_bytes() == payloads["base_inpaint.pt"]
    assert seen[-1] == (len(payloads["base_inpaint.pt"]),) * 2
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert leftovers(store) == ["base_inpaint.pt"]
    assert server.requests == [("/mirror/base_inpaint.pt", None)]
    store.verify("base-inpaint")


def test_tokenizer_files_download_and_verify(store, payloads):
    assert store.download("encoder").read_bytes() == ENCODER
    assert store.download("bpe").read_bytes() == MERGES
    store.verify("encoder")
    store.verify("bpe")


def test_interrupted_download_resumes_with_range(store, server, payloads):
    body = payloads["base_inpaint.pt"]
    server.mode = "drop-once"
    with pytest.raises(DownloadError, match="resume") as info:
        store.download("base-inpaint", attempts=1)
    assert "base_inpaint.pt" in str(info.value)
    part = store.folder / "base_inpaint.pt.part"
    assert part.read_bytes() == body[: len(body) // 2]
    assert not store.has("base-inpaint")

    path = store.download("base-inpaint")
    assert server.requests[1][1] == f"bytes={len(body) // 2}-"
    assert path.read_bytes() == body
    assert not part.exists()


def test_dropped_connection_is_resumed_within_one_call(store, server, payloads):
    server.mode = "drop-once"
    path = store.download("base-inpaint")
    assert path.read_bytes() == payloads["base_inpaint.pt"]
    assert [r for _, r in server.requests] == [None, f"bytes={len(payloads['base_inpaint.pt']) // 2}-"]


def test_server_ignoring_range_starts_over(store, server, payloads):
    server.mode = "ignore-range"
    store.folder.mkdir(parents=True)
    (store.folder / "base_inpaint.pt.part").write_bytes(b"\x80 not the real start of the file")
    path = store.download("base-inpaint")
    assert server.requests[0][1] is not None
    assert path.read_bytes() == payloads["base_inpaint.pt"]


def test_complete_part_answered_416_is_finished(store, server, payloads):
    store.folder.mkdir(parents=True)
    (store.folder / "base_inpaint.pt.part").write_bytes(payloads["base_inpaint.pt"])
    assert store.download("base-inpaint").read_bytes() == payloads["base_inpaint.pt"]
    assert server.requests[0][1] == f"bytes={len(payloads['base_inpaint.pt'])}-"


def test_http_404_names_url_and_status(store, server):
    server.mode = "404"
    with pytest.raises(DownloadError) as info:
        store.download("upsample-inpaint")
    message = str(info.value)
    assert f"{server.url}/upsample_inpaint.pt" in message
    assert "404" in message
    assert "\n" not in message
    assert leftovers(store) == []


@pytest.mark.parametrize("mode", ["html", "disguised-html"])
def test_web_page_is_never_saved_as_a_model(store, server, mode):
    server.mode = mode
    with pytest.raises(DownloadError, match="web page"):
        store.download("base-inpaint")
    assert leftovers(store) == []


def test_truncated_body_is_not_reported_as_a_model(store, server, payloads):
    server.mode = "truncate"
    size = len(payloads["base_inpaint.pt"])
    with pytest.raises(DownloadError, match=f"of {size} bytes"):
        store.download("base-inpaint", attempts=2)
    assert not store.has("base-inpaint")
    assert len(server.requests) == 2  # it tried once more, resuming


def test_wrong_checkpoint_is_deleted_and_named(store, server, payloads):
    server.files["base_inpaint.pt"] = payloads["base.pt"]
    with pytest.raises(VerificationError) as info:
        store.download("base-inpaint")
    message = str(info.value)
    assert "base_inpaint.pt" in message
    assert "'base' checkpoint" in message
    assert "deleted" in message
    assert leftovers(store) == []


def test_invalid_encoder_json_is_rejected(store, server):
    server.files["encoder.json"] = b'{"a": 0,'
    with pytest.raises(VerificationError, match="not valid JSON"):
        store.download("encoder")
    assert leftovers(store) == []


def test_cancel_keeps_the_part_for_resuming(store, server, payloads):
    seen: list[int] = []
    with pytest.raises(DownloadCancelled) as info:
        store.download(
            "base-inpaint", progress=lambda done, total: seen.append(done), cancel=lambda: seen[-1] > 0
        )
    part = store.folder / "base_inpaint.pt.part"
    assert info.value.part == part
    assert 0 < part.stat().st_size < len(payloads["base_inpaint.pt"])
    assert leftovers(store) == ["base_inpaint.pt.part"]
    kept = part.stat().st_size
    assert store.download("base-inpaint").read_bytes() == payloads["base_inpaint.pt"]
    assert server.requests[-1][1] == f"bytes={kept}-"


def test_concurrent_download_of_the_same_file_waits_for_the_first(store, server, payloads):
    server.mode = "slow"
    results: dict[str, Path | BaseException] = {}

    def fetch(key: str, **options: object) -> None:
        try:
            results[key] = store.download("base-inpaint", **options)
        except BaseException as exc:
            results[key] = exc

    first = threading.Thread(target=fetch, args=("first",))
    first.start()
    assert server.midway.wait(10)
    with pytest.raises(DownloadBusy, match="already being downloaded"):
        store.download("base-inpaint")

    waiting = threading.Event()
    second = threading.Thread(
        target=fetch, args=("second",), kwargs={"lock_timeout": 10, "cancel": lambda: waiting.set() or False}
    )
    second.start()
    assert waiting.wait(10)  # the second download is polling the lock
    server.release.set()
    first.join(10)
    second.join(10)
    assert results["first"] == results["second"] == store.path("base-inpaint")
    assert store.path("base-inpaint").read_bytes() == payloads["base_inpaint.pt"]
    assert len(server.requests) == 1


def test_offline_gives_a_clear_message(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = ModelStore(tmp_path, mirror=f"http://127.0.0.1:{port}/", files=tiny_files())
    with pytest.raises(DownloadError) as info:
        store.download("encoder", timeout=5)
    assert f"http://127.0.0.1:{port}/encoder.json" in str(info.value)
    assert "refused" in str(info.value)
    assert isinstance(info.value, StoreError)


# --- files on disk --------------------------------------------------------------------------------


def test_require_explains_what_is_missing_and_how_to_get_it(tmp_path):
    store = ModelStore(tmp_path / "w")
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "encoder.json").write_bytes(ENCODER)
    with pytest.raises(MissingWeightsError) as info:
        store.require(["base-inpaint", "encoder", "bpe"])
    message = str(info.value)
    assert [f.name for f in info.value.missing] == ["base-inpaint", "bpe"]
    for entry in (RELEASED["base-inpaint"], RELEASED["bpe"]):
        assert entry.filename in message
        assert entry.url in message
    assert "encoder.json" not in message
    assert str(tmp_path / "w") in message
    assert "glide-studio download base-inpaint bpe --weights-dir" in message
    assert isinstance(info.value, StoreError)


def test_require_returns_paths_of_present_files(tmp_path):
    store = ModelStore(tmp_path)
    (tmp_path / "vocab.bpe").write_bytes(MERGES)
    assert store.require(["bpe"]) == {"bpe": tmp_path / "vocab.bpe"}
    assert store.missing(["bpe", "encoder"]) == [RELEASED["encoder"]]
    with pytest.raises(StoreError, match="unknown file"):
        store.path("nope")


def test_verify_a_hand_placed_file(tmp_path, payloads):
    store = ModelStore(tmp_path, files=tiny_files())
    (tmp_path / "base_inpaint.pt").write_bytes(payloads["base_inpaint.pt"])
    store.verify("base-inpaint")
    (tmp_path / "vocab.bpe").write_bytes(b"<html>oops</html>")
    with pytest.raises(VerificationError, match="web page"):
        store.verify("bpe")
    (tmp_path / "vocab.bpe").write_bytes(b"a b\n")
    with pytest.raises(VerificationError, match="#version"):
        store.verify("bpe")
    with pytest.raises(MissingWeightsError):
        store.verify("encoder")
    aside = store.set_aside("bpe")
    assert aside.name == "vocab.bpe.invalid" and not store.has("bpe")


def test_released_shapes_are_checked_on_the_meta_device(tmp_path, payloads):
    """A file with the released shapes passes (stride-0 tensors keep it tiny); a tiny model does not."""
    with torch.device("meta"):
        released = build_model(released_options("base-inpaint")).state_dict()
    full = {k: torch.zeros((), dtype=v.dtype).expand(v.shape) for k, v in released.items()}
    torch.save(full, tmp_path / "base_inpaint.pt")
    store = ModelStore(tmp_path)
    store.verify("base-inpaint")
    (tmp_path / "base_inpaint.pt").write_bytes(payloads["base_inpaint.pt"])
    with pytest.raises(VerificationError, match="does not match the model"):
        store.verify("base-inpaint")


# --- folder and URLs ------------------------------------------------------------------------------


def test_folder_precedence(tmp_path, monkeypatch):
    monkeypatch.setattr(platformdirs, "user_cache_dir", lambda app: str(tmp_path / "cache" / app))
    env = {"GLIDE_STUDIO_WEIGHTS": str(tmp_path / "env")}
    assert ModelStore.locate(tmp_path / "arg", environ=env).folder == tmp_path / "arg"
    assert ModelStore.locate(str(tmp_path / "arg"), environ=env).folder == tmp_path / "arg"
    assert ModelStore.locate(None, environ=env).folder == tmp_path / "env"
    assert ModelStore.locate(None, environ={"GLIDE_STUDIO_WEIGHTS": ""}).folder == (
        tmp_path / "cache" / "glide-studio" / "weights"
    )
    assert default_folder() == tmp_path / "cache" / "glide-studio" / "weights"


def test_mirror_replaces_the_official_prefix(tmp_path):
    official = ModelStore.locate(tmp_path, environ={})
    assert official.url_for("bpe") == RELEASED["bpe"].url
    mirrored = ModelStore.locate(tmp_path, environ={"GLIDE_STUDIO_MIRROR": "http://mirror.local/glide/"})
    assert mirrored.url_for("base-inpaint") == "http://mirror.local/glide/base_inpaint.pt"
    assert mirrored.url_for("bpe", base_url="http://other") == "http://other/vocab.bpe"
