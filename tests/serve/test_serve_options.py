"""The server's options: where the token comes from, what a shared server needs, Ray's builder arguments."""

from __future__ import annotations

import sys

import pytest

from glide_studio.cli import main
from glide_studio.serve.ray_setup import local_ray_options
from glide_studio.serve.service import RequestGate, is_loopback_host_header


def test_the_token_comes_from_a_file_or_the_environment_and_a_shared_server_needs_a_long_one(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.delenv("GLIDE_STUDIO_TOKEN", raising=False)
    short = tmp_path / "short.token"
    short.write_text("abc\n")
    assert main(["serve", "--host", "0.0.0.0", "--token-file", str(short), "--demo"]) == 2
    assert "the token has 3 characters; a shared server needs 16 or more" in capsys.readouterr().err
    assert main(["serve", "--token-file", str(tmp_path / "missing"), "--demo"]) == 2
    assert "cannot be read (No such file or directory)" in capsys.readouterr().err
    two_lines = tmp_path / "two.token"
    two_lines.write_text("first-line-token-xx\nsecond")
    assert main(["serve", "--token-file", str(two_lines)]) == 2
    assert "alone on one line" in capsys.readouterr().err
    monkeypatch.setenv("GLIDE_STUDIO_TOKEN", "short")
    assert main(["serve", "--address", "auto", "--demo"]) == 2
    assert "needs 16 or more" in capsys.readouterr().err
    # On the command line it works but is warned against (other users see it in `ps`).
    assert main(["serve", "--token", "short", "--host", "0.0.0.0", "--max-queue", "-1"]) == 2
    err = capsys.readouterr().err
    assert "shows in the process list" in err and "needs 16 or more" in err
    assert main(["serve", "--max-steps", "0"]) == 2
    assert "--max-steps must be at least 1" in capsys.readouterr().err


def test_loopback_host_names_and_json_bodies():
    for host in (
        "localhost",
        "localhost:8000",
        "127.0.0.1",
        "127.0.0.1:1",
        "[::1]",
        "[::1]:8000",
        "LOCALHOST",
    ):
        assert is_loopback_host_header(host), host
    for host in (None, "", "evil.example", "localhost.evil.example", "127.0.0.2", "0.0.0.0:8000", "[::2]:80"):
        assert not is_loopback_host_header(host), host
    RequestGate.check_json_body("application/json; charset=utf-8")
    for kind in (None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        with pytest.raises(ValueError, match="application/json") as caught:
            RequestGate.check_json_body(kind)
        assert caught.value.status == 415


def test_ray_starts_on_loopback_without_dashboard_metrics_or_usage_reports(monkeypatch):
    monkeypatch.delenv("RAY_USAGE_STATS_ENABLED", raising=False)
    monkeypatch.delenv("RAY_enable_metrics_collection", raising=False)
    monkeypatch.delenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", raising=False)
    options = local_ray_options(host="127.0.0.1", address=None)
    assert options == {"include_dashboard": False, "_node_ip_address": "127.0.0.1"}
    import os

    assert os.environ["RAY_USAGE_STATS_ENABLED"] == "0"
    assert os.environ["RAY_enable_metrics_collection"] == "0"  # noqa: SIM112 (Ray's own spelling)
    # Ray's single-node mode (every service on 127.0.0.1) is set only before Ray is imported;
    # tests/serve/test_serve_command.py checks the listening sockets of a real server.
    assert os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") == (None if "ray" in sys.modules else "0")
    assert local_ray_options(host="0.0.0.0", address=None) == {"include_dashboard": False}
    assert local_ray_options(host="127.0.0.1", address="auto") == {}  # a cluster keeps its own settings


def test_the_builder_takes_rays_arguments(monkeypatch, tmp_path):
    pytest.importorskip("ray")
    from glide_studio.serve.builder import options_from_args

    monkeypatch.setenv("GLIDE_STUDIO_TOKEN", "from-the-environment")
    options = options_from_args(
        {
            "demo": "true",
            "replicas": "2",
            "max-steps": "50",
            "max_queue": 5,
            "keep_results": "2",
            "max_seconds": 30,
        }
    )
    assert (
        options.service.demo is True
        and options.replicas == 2
        and options.service.token == "from-the-environment"
    )
    assert options.service.limits.max_steps == 50 and options.service.jobs.max_queue == 5
    assert options.service.jobs.keep_results_s == 120 and options.service.jobs.max_seconds == 30
    assert options.worker_options()["max_queued_requests"] == 5 + 2
    token = tmp_path / "token"
    token.write_text("from-a-file-of-enough-length\n")
    assert options_from_args({"token_file": str(token)}).service.token == "from-a-file-of-enough-length"
    with pytest.raises(ValueError, match="unknown arguments colour; known: demo"):
        options_from_args({"colour": "red"})
    with pytest.raises(ValueError, match="argument replicas='two' is not a int"):
        options_from_args({"replicas": "two"})
    with pytest.raises(ValueError, match="argument demo='maybe' is not a bool"):
        options_from_args({"demo": "maybe"})


def test_a_replica_whose_model_stopped_making_steps_is_unhealthy():
    pytest.importorskip("ray")
    import time

    from glide_studio.serve.deployment import EditWorker
    from glide_studio.serve.service import ServiceConfig

    worker = EditWorker.__new__(EditWorker)  # no models: only the health check's own state
    worker.config = ServiceConfig(stuck_after_s=600)
    worker._progress = None
    worker.check_health()  # idle
    worker._progress = time.monotonic() - 30
    worker.check_health()  # a step 30 s ago
    worker._progress = time.monotonic() - 601
    with pytest.raises(RuntimeError, match="no step for over 600 s"):
        worker.check_health()
