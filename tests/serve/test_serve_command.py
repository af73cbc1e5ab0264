"""Ray Serve's own deploy path (``serve build``, a config file, the builder's arguments) and a quick,
clean stop of ``glide-studio serve`` on SIGTERM: each in a process of its own, on loopback."""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml  # PyYAML comes with ray[serve], which the tests require
from serve_helpers import demo_request

from glide_studio.core.generation.events import Finished
from glide_studio.core.remote.client import RemoteBackend
from glide_studio.core.remote.wire import request_to_wire

pytestmark = pytest.mark.slow  # each test starts a Ray instance of its own in a subprocess

SERVE = Path(sys.executable).with_name("serve")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "GLIDE_STUDIO_TOKEN")}
    return {**env, "RAY_USAGE_STATS_ENABLED": "0", "RAY_enable_metrics_collection": "0", **extra}


def _wait_for_info(url: str, process: subprocess.Popen, tries: int = 900) -> RemoteBackend:
    for _ in range(tries):  # a hang guard, in tries of at most a few seconds
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}")
        try:
            return RemoteBackend.connect(url, timeout=120, info_timeout=5)
        except Exception:
            time.sleep(0.3)
    raise AssertionError("the server never answered")


def _descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in found]
        found.update(children)
        frontier.extend(children)
    return found


def _socket_inodes(pid: int) -> set[str]:
    try:
        links = [os.readlink(f) for f in Path(f"/proc/{pid}/fd").iterdir()]
    except OSError:  # the process ended, or its fds are not ours to read
        return set()
    return {link[len("socket:[") : -1] for link in links if link.startswith("socket:[")}


def _address(hex_address: str) -> str:
    """``/proc/net/tcp*``'s ``HEXIP:HEXPORT`` as ``ss`` writes it (``127.0.0.1:80``, ``[::1]:80``)."""
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    # The kernel prints each 32-bit word of the address in host (little-endian) order.
    address = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return f"{ip}:{int(port, 16)}"
    shown = f"::ffff:{ip.ipv4_mapped}" if ip.ipv4_mapped else str(ip)
    return f"[{shown}]:{int(port, 16)}"


def _listening(root: int) -> list[str]:
    """``PROCESS ADDRESS`` for each TCP socket the server's processes (it and all it started)
    listen on, read from /proc (no ``ss`` needed)."""
    owners = {}
    for pid in _descendants(root):
        name = Path(f"/proc/{pid}/comm").read_text().strip() if Path(f"/proc/{pid}/comm").exists() else "?"
        owners.update(dict.fromkeys(_socket_inodes(pid), name))
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in owners:  # 0A: LISTEN
                found.append(f"{owners[fields[9]]} {_address(fields[1])}")
    return found


def _stop(process: subprocess.Popen, sig: int) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(90)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)


def test_serve_build_writes_a_config_that_deploys_with_the_builders_arguments(tmp_path):
    build = subprocess.run(
        [str(SERVE), "build", "glide_studio.serve:app", "-o", str(tmp_path / "serve.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
        cwd=tmp_path,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    config = yaml.safe_load((tmp_path / "serve.yaml").read_text())
    app = config["applications"][0]
    assert app["import_path"] == "glide_studio.serve:app"
    worker = next(d for d in app["deployments"] if d["name"] == "EditWorker")
    assert worker["max_ongoing_requests"] == 1 and worker["max_queued_requests"] == 65
    # What a user edits before `serve deploy`: where to listen, and the builder's arguments.
    port = _free_port()
    config["http_options"] = {"host": "127.0.0.1", "port": port}
    config["proxy_location"] = "HeadOnly"
    app["args"] = {"demo": True, "max_steps": 40, "max_queue": 3, "device": "cpu"}
    (tmp_path / "serve.yaml").write_text(yaml.safe_dump(config))
    process = subprocess.Popen(
        [str(SERVE), "run", str(tmp_path / "serve.yaml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(),
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        engine = _wait_for_info(f"http://127.0.0.1:{port}", process)
        assert engine.info.is_demo and engine.jobs and engine.limits.max_steps == 40
        assert isinstance(list(engine.run(demo_request(steps=4)))[-1], Finished)
    finally:
        _stop(process, signal.SIGINT)


def test_sigterm_stops_the_server_quickly_and_cancels_what_runs(tmp_path):
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "glide_studio", "serve", "--demo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
        cwd=tmp_path,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for_info(url, process)
        for _ in range(600):  # the command is ready once it says so (a hang guard, in polls)
            if any("Serving at" in line for line in lines) or process.poll() is not None:
                break
            time.sleep(0.1)
        listening = _listening(process.pid)
        assert listening, "no listening socket found for the server's processes"
        # Every Ray service on 127.0.0.1 but Serve's own channel between replicas, which Ray 2.60
        # binds on every interface with no setting to change it (the README says so).
        outside = [
            entry
            for entry in listening
            if not entry.split()[1].startswith(("127.0.0.1:", "[::ffff:127.0.0.1]:"))
            and not entry.startswith("ray::ServeRepli")
        ]
        assert not outside, f"Ray listens beyond loopback: {outside}"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        body = json.dumps(request_to_wire(demo_request(steps=1000, candidates=4))).encode()
        conn.request("POST", "/v1/jobs", body=body, headers={"Content-Type": "application/json"})
        job = json.loads(conn.getresponse().read())["id"]
        for _ in range(600):  # until it runs (a hang guard, in polls)
            conn.request("GET", f"/v1/jobs/{job}")
            if json.loads(conn.getresponse().read())["state"] == "running":
                break
            time.sleep(0.1)
        conn.close()
        asked = time.perf_counter()
        process.send_signal(signal.SIGTERM)
        process.wait(120)  # a hang guard; the figure is printed below
        took = time.perf_counter() - asked
    finally:
        _stop(process, signal.SIGKILL)
    reader.join(10)
    print(f"stopped {took:.1f} s after SIGTERM, a 1000-step run under way")
    assert process.returncode == 0, "".join(lines)[-3000:]
    assert any("Stopping: running edits are cancelled." in line for line in lines)
