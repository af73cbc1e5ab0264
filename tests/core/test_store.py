"""The model store: folder choice, messages for missing files, and downloads from a loopback server."""

from __future__ import annotations

import base64
import errno
import hashlib
import io
import os
import shutil
import socket
import sys
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
from glide_studio.core.weights import downloads
from glide_studio.core.weights.released import GROUPS, RELEASED, ReleasedFile, released_options
from glide_studio.core.weights.store import (
    DownloadBusy,
    DownloadCancelled,
    DownloadError,
    MissingWeightsError,
    ModelStore,
    Sidecar,
    StoreError,
    VerificationError,
    clip_key_shapes,
    default_folder,
)
from tiny_models import TINY_32

TINY = TINY_32


def tiny_files() -> dict[str, ReleasedFile]:
    """The released table with tiny models of the same variants, so downloads stay small."""
    files = dict(RELEASED)
    for name, entry in RELEASED.items():
        if entry.options is not None:
            flags = {k: entry.options[k] for k in ("inpaint", "super_res")}
            files[name] = replace(entry, options=MappingProxyType({**TINY, **flags}))
    return files


def checkpoint_bytes(name: str, *, seed: int = 0) -> bytes:
    torch.manual_seed(seed)
    buffer = io.BytesIO()
    torch.save(build_model(tiny_files()[name].options).state_dict(), buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def payloads() -> dict[str, bytes]:
    """Bodies served under the released file names."""
    return {
        "base_inpaint.pt": checkpoint_bytes("base-inpaint"),
        "base.pt": checkpoint_bytes("base"),
    }


class Server(ThreadingHTTPServer):
    """Serves ``files`` by name with an ETag per version; ``mode`` picks a misbehaviour.

    ``requests`` records (path, Range, If-Range) of every request.
    """

    daemon_threads = True

    def __init__(self, files: dict[str, bytes]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.files = dict(files)
        self.mode = "normal"
        self.requests: list[tuple[str, str | None, str | None]] = []
        self.midway = threading.Event()
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/mirror"


def etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range"), self.headers.get("If-Range")))
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

    def _start(self, body: bytes) -> int:
        """Where the body starts: Range honoured unless the mode or If-Range says otherwise."""
        mode, asked = self.server.mode, self.headers.get("Range")
        if not asked or mode == "ignore-range":
            return 0
        if_range = self.headers.get("If-Range")
        if if_range and if_range != etag(body) and mode != "ignore-if-range":
            return 0  # another version: RFC 9110 says send it whole
        return int(asked.split("=")[1].rstrip("-"))

    def _body(self, body: bytes, *, first: bool) -> None:
        mode = self.server.mode
        start = self._start(body)
        if start >= len(body) > 0:
            self._head(416, 0, Content_Range=f"bytes */{len(body)}")
            return
        rest = body[start:]
        extra = {} if mode == "no-validator" else {"ETag": etag(body)}
        if mode in ("md5", "bad-md5") and not start:
            digest = hashlib.md5(body if mode == "md5" else body + b"x").digest()
            extra["Content_MD5"] = base64.b64encode(digest).decode()
        if start:
            self._head(206, len(rest), Content_Range=f"bytes {start}-{len(body) - 1}/{len(body)}", **extra)
        else:
            self._head(200, len(rest), **extra)
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


def assert_absent(store: ModelStore, name: str = "base-inpaint") -> None:
    """A failed download never leaves a file (or a manifest) that says it is present."""
    assert not store.has(name)
    assert not Sidecar.path_for(store.path(name)).exists()


def test_full_download_is_verified_with_a_manifest(store, server, payloads):
    seen: list[tuple[int, int | None]] = []
    body = payloads["base_inpaint.pt"]
    path = store.download("base-inpaint", progress=lambda done, total: seen.append((done, total)))
    assert path == store.folder / "base_inpaint.pt"
    assert path.read_bytes() == body
    assert seen[-1] == (len(body),) * 2
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert leftovers(store) == ["base_inpaint.pt", "base_inpaint.pt.manifest.json"]
    assert server.requests == [("/mirror/base_inpaint.pt", None, None)]
    sidecar = Sidecar.read(path)
    assert sidecar == Sidecar(
        size=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
        url=f"{server.url}/base_inpaint.pt",
        validator=etag(body),
        mtime_ns=path.stat().st_mtime_ns,
    )
    store.verify("base-inpaint")
    assert store.rehash("base-inpaint") == sidecar


def test_interrupted_download_resumes_with_if_range(store, server, payloads):
    body = payloads["base_inpaint.pt"]
    server.mode = "drop-once"
    with pytest.raises(DownloadError, match="resume") as info:
        store.download("base-inpaint", attempts=1)
    assert "base_inpaint.pt" in str(info.value)
    part = store.folder / "base_inpaint.pt.part"
    assert part.read_bytes() == body[: len(body) // 2]
    assert_absent(store)

    path = store.download("base-inpaint")
    assert server.requests[1][1:] == (f"bytes={len(body) // 2}-", etag(body))
    assert path.read_bytes() == body
    assert Sidecar.read(path).sha256 == hashlib.sha256(body).hexdigest()  # hashed across the resume
    assert leftovers(store) == ["base_inpaint.pt", "base_inpaint.pt.manifest.json"]


@pytest.mark.parametrize("mode", ["normal", "ignore-if-range"])
def test_file_changed_on_the_server_between_requests_starts_over(store, server, payloads, mode):
    """The first half of version 1 and the second half of version 2 must never be joined."""
    old, new = payloads["base_inpaint.pt"], checkpoint_bytes("base-inpaint", seed=1)
    assert len(old) == len(new) and old != new
    server.mode = "drop-once"
    with pytest.raises(DownloadError):
        store.download("base-inpaint", attempts=1)
    server.files["base_inpaint.pt"] = new
    server.mode = mode
    path = store.download("base-inpaint")
    assert path.read_bytes() == new
    assert Sidecar.read(path).sha256 == hashlib.sha256(new).hexdigest()
    assert Sidecar.read(path).validator == etag(new)
    resumed = (f"bytes={len(old) // 2}-", etag(old))
    if mode == "normal":  # If-Range did not match: the server sent the new version whole
        assert [r[1:] for r in server.requests[1:]] == [resumed]
    else:  # the server sent part of the new version: seen by its ETag, fetched again whole
        assert [r[1:] for r in server.requests[1:]] == [resumed, (None, None)]


def test_no_validator_means_no_resume(store, server, payloads):
    """Without an ETag or Last-Modified there is no way to know the bytes are of one version."""
    server.mode = "no-validator"
    store.folder.mkdir(parents=True)
    (store.folder / "base_inpaint.pt.part").write_bytes(payloads["base_inpaint.pt"][:1000])
    path = store.download("base-inpaint")
    assert [r[1] for r in server.requests] == [None]
    assert path.read_bytes() == payloads["base_inpaint.pt"]
    assert Sidecar.read(path).validator is None


def test_dropped_connection_is_resumed_within_one_call(store, server, payloads):
    server.mode = "drop-once"
    body = payloads["base_inpaint.pt"]
    path = store.download("base-inpaint")
    assert path.read_bytes() == body
    assert [r for _, r, _ in server.requests] == [None, f"bytes={len(body) // 2}-"]


def test_server_ignoring_range_starts_over(store, server, payloads):
    body = payloads["base_inpaint.pt"]
    server.mode = "drop-once"
    with pytest.raises(DownloadError):
        store.download("base-inpaint", attempts=1)
    server.mode = "ignore-range"
    path = store.download("base-inpaint")
    assert server.requests[-1][1] is not None  # it asked to resume, got the whole file
    assert path.read_bytes() == body
    assert Sidecar.read(path).size == len(body)


def test_complete_part_answered_416_is_finished(store, server, payloads):
    body = payloads["base_inpaint.pt"]
    server.mode = "drop-once"
    with pytest.raises(DownloadError):
        store.download("base-inpaint", attempts=1)
    (store.folder / "base_inpaint.pt.part").write_bytes(body)  # it arrived, but was never renamed
    server.mode = "normal"
    assert store.download("base-inpaint").read_bytes() == body
    assert server.requests[-1][1] == f"bytes={len(body)}-"
    assert Sidecar.read(store.path("base-inpaint")).sha256 == hashlib.sha256(body).hexdigest()


def test_content_md5_is_checked(store, server, payloads):
    server.mode = "bad-md5"
    with pytest.raises(DownloadError, match="Content-MD5"):
        store.download("base-inpaint")
    assert_absent(store)
    assert leftovers(store) == []
    server.mode = "md5"
    assert store.download("base-inpaint").read_bytes() == payloads["base_inpaint.pt"]


def test_not_enough_free_space_is_said_before_writing(store, server, payloads, monkeypatch):
    body = payloads["base_inpaint.pt"]
    usage = shutil.disk_usage(Path.cwd())
    monkeypatch.setattr(downloads.shutil, "disk_usage", lambda _: usage._replace(free=len(body) // 3))
    with pytest.raises(StoreError) as info:
        store.download("base-inpaint")
    message = str(info.value)
    assert f"not enough free space in {store.folder}" in message
    assert f"needs {downloads.human_size(len(body))}" in message
    assert_absent(store)
    assert not (store.folder / "base_inpaint.pt.part").exists()
    assert not (store.folder / "base_inpaint.pt.part.json").exists(), "a refused download leaves no record"


def test_full_disk_while_writing_names_the_file_and_keeps_what_arrived(store, server, payloads, monkeypatch):
    body = payloads["base_inpaint.pt"]
    real_write = downloads._write_all
    written = []

    def fill_up(fd: int, data: bytes) -> None:
        if written:
            os.write(fd, data[:100])  # a partial write, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(len(data))
        real_write(fd, data)

    monkeypatch.setattr(downloads, "_write_all", fill_up)
    with pytest.raises(StoreError) as info:
        store.download("base-inpaint")
    message = str(info.value)
    part = store.folder / "base_inpaint.pt.part"
    assert f"cannot write {part}: the disk is full" in message
    assert "Errno" not in message
    assert part.read_bytes() == body[: written[0]]  # exactly the bytes that were hashed
    assert_absent(store)

    monkeypatch.setattr(downloads, "_write_all", real_write)  # space was freed
    assert store.download("base-inpaint").read_bytes() == body
    assert server.requests[-1][1] == f"bytes={written[0]}-"


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
    assert_absent(store)
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


def test_cancel_keeps_the_part_for_resuming(store, server, payloads):
    seen: list[int] = []
    with pytest.raises(DownloadCancelled) as info:
        store.download(
            "base-inpaint", progress=lambda done, total: seen.append(done), cancel=lambda: seen[-1] > 0
        )
    part = store.folder / "base_inpaint.pt.part"
    assert info.value.part == part
    assert 0 < part.stat().st_size < len(payloads["base_inpaint.pt"])
    assert leftovers(store) == ["base_inpaint.pt.part", "base_inpaint.pt.part.json"]
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
        store.download("base-inpaint", timeout=5)
    assert f"http://127.0.0.1:{port}/base_inpaint.pt" in str(info.value)
    assert "refused" in str(info.value)
    assert isinstance(info.value, StoreError)


# --- files on disk --------------------------------------------------------------------------------


def test_manifest_catches_a_changed_file_cheaply_and_by_hash(store, server, payloads):
    body = payloads["base_inpaint.pt"]
    path = store.download("base-inpaint")
    recorded = Sidecar.read(path)
    os.utime(path, ns=(recorded.mtime_ns + 10**9, recorded.mtime_ns + 10**9))  # copied without times
    assert store.check_sidecar("base-inpaint").mtime_ns == recorded.mtime_ns + 10**9  # re-hashed: same
    assert Sidecar.read(path).mtime_ns == recorded.mtime_ns + 10**9

    damaged = bytearray(body)
    damaged[len(body) // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))  # same size, new mtime, other bytes
    with pytest.raises(VerificationError, match="SHA-256 differs") as info:
        store.check_sidecar("base-inpaint")
    assert str(path) in str(info.value)
    path.write_bytes(body[:-10])
    with pytest.raises(VerificationError, match=f"is {len(body) - 10} bytes but was {len(body)}"):
        store.verify("base-inpaint")
    aside = store.set_aside("base-inpaint")
    assert aside.exists() and not Sidecar.path_for(path).exists()


def test_require_explains_what_is_missing_and_how_to_get_it(tmp_path, payloads):
    store = ModelStore(tmp_path / "w")
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "upsample_inpaint.pt").write_bytes(b"present")
    (tmp_path / "w" / "encoder.json").write_text("{}")  # an old download of the tokenizer: ignored
    with pytest.raises(MissingWeightsError) as info:
        store.require(["base-inpaint", "upsample-inpaint", "clip-text-enc"])
    message = str(info.value)
    assert [f.name for f in info.value.missing] == ["base-inpaint", "clip-text-enc"]
    for entry in (RELEASED["base-inpaint"], RELEASED["clip-text-enc"]):
        assert entry.filename in message
        assert entry.url in message
    assert "upsample_inpaint.pt" not in message
    assert str(tmp_path / "w") in message
    assert "glide-studio download base-inpaint clip-text-enc --weights-dir" in message
    assert isinstance(info.value, StoreError)


def test_released_table_lists_the_six_checkpoints():
    assert {f.filename for f in RELEASED.values()} == {
        "base.pt",
        "upsample.pt",
        "base_inpaint.pt",
        "upsample_inpaint.pt",
        "clip_image_enc.pt",
        "clip_text_enc.pt",
    }
    assert all(f.url.endswith("/diffusion/dec-2021/" + f.filename) for f in RELEASED.values())
    assert [n for names in GROUPS.values() for n in names] == [
        "base-inpaint",
        "upsample-inpaint",
        "base",
        "upsample",
        "clip-image-enc",
        "clip-text-enc",
    ]


def test_verify_a_hand_placed_file(tmp_path, payloads):
    store = ModelStore(tmp_path, files=tiny_files())
    (tmp_path / "base_inpaint.pt").write_bytes(payloads["base_inpaint.pt"])
    store.verify("base-inpaint")
    assert store.rehash("base-inpaint") is None  # no manifest: placed by hand
    (tmp_path / "base.pt").write_bytes(b"<html>oops</html>")
    with pytest.raises(VerificationError, match="web page"):
        store.verify("base")
    with pytest.raises(MissingWeightsError):
        store.verify("upsample")
    aside = store.set_aside("base")
    assert aside.name == "base.pt.invalid" and not store.has("base")


def released_shaped(shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """Stride-0 tensors of the released shapes: the file stays tiny."""
    return {k: torch.zeros(()).expand(shape) for k, shape in shapes.items()}


def test_released_shapes_are_checked_on_the_meta_device(tmp_path, payloads):
    """A file with the released shapes passes; a tiny model does not."""
    with torch.device("meta"):
        released = build_model(released_options("base-inpaint")).state_dict()
    torch.save(released_shaped({k: v.shape for k, v in released.items()}), tmp_path / "base_inpaint.pt")
    store = ModelStore(tmp_path)
    store.verify("base-inpaint")
    (tmp_path / "base_inpaint.pt").write_bytes(payloads["base_inpaint.pt"])
    with pytest.raises(VerificationError, match="does not match the model"):
        store.verify("base-inpaint")


def test_clip_files_are_checked_against_the_shipped_key_table(tmp_path):
    store = ModelStore(tmp_path)
    for name in GROUPS["clip"]:
        shapes = clip_key_shapes(name)
        assert len(shapes) > 100
        torch.save(released_shaped(shapes), store.path(name))
        store.verify(name)
    text = clip_key_shapes("clip-text-enc")
    text["blocks.input.w_voc"] = (1000, 512)
    torch.save(released_shaped(text), store.path("clip-text-enc"))
    with pytest.raises(VerificationError, match=r"clip_text_enc\.pt.*blocks\.input\.w_voc is \(1000, 512\)"):
        store.verify("clip-text-enc")
    torch.save(released_shaped(clip_key_shapes("clip-text-enc")), store.path("clip-image-enc"))
    with pytest.raises(VerificationError, match="missing keys"):
        store.verify("clip-image-enc")


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


def test_default_folder_without_platformdirs(tmp_path, monkeypatch):
    """A machine that runs the project from its folder and cannot install platformdirs (the GPU
    check's) still gets a folder: the one platformdirs names on Linux."""
    monkeypatch.setitem(sys.modules, "platformdirs", None)  # import platformdirs now fails
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_folder() == tmp_path / "xdg" / "glide-studio" / "weights"
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_folder() == tmp_path / "home" / ".cache" / "glide-studio" / "weights"


def test_mirror_replaces_the_official_prefix(tmp_path):
    official = ModelStore.locate(tmp_path, environ={})
    assert official.url_for("base") == RELEASED["base"].url
    mirrored = ModelStore.locate(tmp_path, environ={"GLIDE_STUDIO_MIRROR": "http://mirror.local/glide/"})
    assert mirrored.url_for("base-inpaint") == "http://mirror.local/glide/base_inpaint.pt"
    assert mirrored.url_for("clip-text-enc", base_url="http://other") == "http://other/clip_text_enc.pt"
