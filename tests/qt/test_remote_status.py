"""The studio with a server that cannot be reached, a queue place, and the token's own file."""

from __future__ import annotations

import http.server
import json
import os
import socket
import stat
import threading
import time

import pytest
from qt_helpers import open_photo, paint_box

from glide_studio.core.generation.events import Failed, Queued
from glide_studio.core.imaging.region import Box
from glide_studio.core.remote import client as client_module
from glide_studio.qt.generation import ordinal
from glide_studio.qt.main_window import MainWindow
from glide_studio.qt.settings import BackendChoice, temporary_settings


def _never_local():
    raise AssertionError("the local models must not load when a server is chosen")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.fixture()
def unreachable(qtbot, tmp_path, settings, monkeypatch):
    monkeypatch.setenv("GLIDE_STUDIO_DATA", str(tmp_path / "data"))
    settings.set_backend(BackendChoice(url=f"http://127.0.0.1:{_closed_port()}", token="t" * 20))
    win = MainWindow(settings=settings, backend_factory=_never_local, data_folder=tmp_path / "autosave")
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()
    win.service.wait_stopped(20_000)


def test_an_unreachable_server_greys_generate_and_offers_reconnect_not_weights(qtbot, unreachable, dialogs):
    win = unreachable
    qtbot.waitUntil(lambda: win.backends.unreachable, timeout=30_000)
    assert win.status.model_label.text() == "Server unreachable"
    assert "cannot reach the server" in win.status.model_label.toolTip()
    assert not win.status.download_button.isVisibleTo(win) and win.status.reconnect_button.isVisibleTo(win)
    assert "question" not in dialogs.kinds()  # no weights download offered for a server's failure
    open_photo(win)
    paint_box(win, Box(20, 20, 60, 60))
    qtbot.waitUntil(lambda: "Reconnect" in win.prompt_panel.status_label.text(), timeout=10_000)
    assert not win.prompt_panel.generate_button.isEnabled() and not win.actions_.generate.isEnabled()
    # Reconnect asks again (the server is still away: the same state, and still no download offer).
    win.status.reconnect_button.click()
    qtbot.waitUntil(lambda: win.status.model_label.text() == "Server unreachable", timeout=30_000)
    assert "question" not in dialogs.kinds()


def test_a_queue_place_is_shown_in_words(qtbot, unreachable):
    win = unreachable
    win.service.event.emit(Queued(position=3))
    assert "3rd in the server's queue" in win.prompt_panel._progress_text
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th"
    ]  # fmt: skip


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX file modes")
def test_the_token_lives_in_a_file_only_its_user_can_read(tmp_path):
    settings = temporary_settings(tmp_path / "settings.ini")
    settings.store.setValue("backend/token", "from-an-older-version")  # moved out on first read
    settings.store.setValue("backend/url", "http://gpu-box:8000")
    assert settings.backend() == BackendChoice(url="http://gpu-box:8000", token="from-an-older-version")
    settings.set_backend(BackendChoice(url="http://gpu-box:8000", token="s3cret-token-of-20ch"))
    settings.store.sync()
    token_file = settings.token_path()
    assert token_file.read_text() == "s3cret-token-of-20ch"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert "s3cret" not in (tmp_path / "settings.ini").read_text()
    assert "older-version" not in (tmp_path / "settings.ini").read_text()
    assert temporary_settings(tmp_path / "settings.ini").backend().token == "s3cret-token-of-20ch"
    settings.set_backend(BackendChoice(url=""))
    assert not token_file.exists()


class _VanishingServer(http.server.BaseHTTPRequestHandler):
    """Answers /v1/info and takes a job, then hangs up on every event stream: a server that died."""

    protocol_version = "HTTP/1.1"

    def _json(self, status: int, data) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.endswith("/info"):
            time.sleep(self.server.info_delay)
            return self._json(200, self.server.info)
        self.server.follows += 1
        self.close_connection = True  # no answer at all: the connection just ends

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self._json(202, {"id": "job-1", "state": "queued", "position": 1})

    def do_DELETE(self):
        self._json(200, {"id": "job-1", "state": "cancelled"})

    def log_message(self, *args):
        pass


def test_a_server_that_dies_mid_run_turns_the_status_to_reconnect(qtbot, tmp_path, settings, monkeypatch):
    from glide_studio.core.runtime.engine import load_local_backend
    from glide_studio.serve.service import EditRunner, ServiceConfig

    monkeypatch.setattr(client_module, "_sleep", lambda seconds, cancel: False)  # no waits between tries
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _VanishingServer)
    server.daemon_threads = True
    runner = EditRunner(load_local_backend(demo=True, device="cpu"), ServiceConfig(demo=True))
    server.info, server.follows = {**runner.info(), "features": ["jobs", "resume"]}, 0
    server.info_delay = 1.0  # slow to answer: the status says the studio waits for it
    monkeypatch.setattr(client_module, "WAIT_NOTICE_AFTER", 0.05)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("GLIDE_STUDIO_DATA", str(tmp_path / "data"))
    settings.set_backend(BackendChoice(url=f"http://127.0.0.1:{server.server_port}"))
    win = MainWindow(settings=settings, backend_factory=_never_local, data_folder=tmp_path / "autosave")
    qtbot.addWidget(win)
    win.show()
    try:
        qtbot.waitUntil(lambda: "Waiting for the server at" in win.status.currentMessage(), timeout=30_000)
        qtbot.waitUntil(lambda: win.service.info is not None, timeout=30_000)
        server.info_delay = 0.0
        assert not win.backends.unreachable and not win.status.reconnect_button.isVisibleTo(win)
        open_photo(win)
        paint_box(win, Box(20, 20, 60, 60))
        win.prompt_panel.prompt.setPlainText("a red circle")
        failed = []
        win.service.event.connect(lambda e: failed.append(e) if isinstance(e, Failed) else None)
        qtbot.waitUntil(lambda: win.prompt_panel.generate_button.isEnabled(), timeout=10_000)
        assert win.generation.generate()
        qtbot.waitUntil(lambda: bool(failed), timeout=60_000)
        assert "6 reconnections failed" in failed[0].message and server.follows == 7
        qtbot.waitUntil(lambda: win.backends.unreachable, timeout=10_000)
        assert win.status.model_label.text() == "Server unreachable"
        assert win.status.reconnect_button.isVisibleTo(win) and not win.status.download_button.isVisibleTo(
            win
        )
        qtbot.waitUntil(lambda: not win.prompt_panel.generate_button.isEnabled(), timeout=10_000)
        # The server is back (it never left, in this test): Reconnect turns Generate on again.
        win.status.reconnect_button.click()
        qtbot.waitUntil(lambda: win.service.info is not None and not win.backends.unreachable, timeout=30_000)
        qtbot.waitUntil(lambda: win.prompt_panel.generate_button.isEnabled(), timeout=10_000)
    finally:
        win.close()
        win.service.wait_stopped(20_000)
        server.shutdown()
        server.server_close()
