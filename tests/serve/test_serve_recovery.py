"""Jobs on the real server, and its faults: a killed ingress does not leave its run holding the replica."""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

import pytest
from serve_helpers import demo_request

from glide_studio.core.generation.events import Finished
from glide_studio.core.remote.client import RemoteBackend
from glide_studio.core.remote.wire import request_to_wire

pytestmark = pytest.mark.slow  # starts Ray Serve (tests/serve/conftest.py), then real runs through it


def _call(served, method: str, path: str, body: dict | None = None, *, content_type="application/json"):
    parts = urlsplit(served.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    headers = {"Authorization": f"Bearer {served.token}", "Content-Type": content_type}
    try:
        conn.request(method, path, body=json.dumps(body).encode() if body else None, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        is_json = response.getheader("content-type", "").startswith("application/json")
        return response.status, (json.loads(raw) if is_json else raw)
    finally:
        conn.close()


def _long():
    return request_to_wire(demo_request(steps=1000, candidates=4, seed=5))  # over 70 s of work


def _wait_state(served, job: str, state: str) -> dict:
    for _ in range(600):  # a hang guard, in polls, not seconds
        _, answer = _call(served, "GET", f"/v1/jobs/{job}")
        if answer.get("state") == state:
            return answer
        time.sleep(0.1)
    raise AssertionError(f"job {job} never became {state}: {answer}")


def test_jobs_queue_on_the_real_server_and_cancel_from_another_connection(served):
    status, busy = _call(served, "POST", "/v1/jobs", _long())
    assert status == 202 and len(busy["id"]) >= 16
    _wait_state(served, busy["id"], "running")
    _, second = _call(served, "POST", "/v1/jobs", _long())
    _, third = _call(served, "POST", "/v1/jobs", request_to_wire(demo_request(steps=4)))
    assert (second["position"], third["position"]) == (1, 2)
    _, info = _call(served, "GET", "/v1/info")
    assert info["queue"]["queued"] == 2 and info["queue"]["running"] == 1
    assert info["features"] == ["jobs", "resume", "queue"]
    assert info["replicas"].get("running") == 1, info["replicas"]
    # Cancel from other connections: the queued one leaves, the third moves up, the running one stops.
    assert _call(served, "DELETE", f"/v1/jobs/{second['id']}")[0] == 200
    assert _wait_state(served, third["id"], "queued")["position"] == 1
    _call(served, "DELETE", f"/v1/jobs/{busy['id']}")
    _wait_state(served, busy["id"], "cancelled")
    _wait_state(served, third["id"], "finished")
    _, events = _call(served, "GET", f"/v1/jobs/{third['id']}/events?after=0")
    kinds = [json.loads(line)["event"] for line in events.splitlines()]
    assert kinds[-1] == "finished" and "started" in kinds
    assert _call(served, "POST", "/v1/jobs", _long(), content_type="text/plain")[0] == 415


def test_a_killed_ingress_does_not_leave_its_run_on_the_replica(served):
    import ray

    status, job = _call(served, "POST", "/v1/jobs", _long())
    assert status == 202
    _wait_state(served, job["id"], "running")
    names = [a for a in ray.util.list_named_actors(all_namespaces=True) if "#Gateway#" in a["name"]]
    assert len(names) == 1
    killed = time.perf_counter()
    ray.kill(ray.get_actor(names[0]["name"], namespace=names[0]["namespace"]), no_restart=True)
    # The next request: a new ingress comes up, the worker's lease on the orphaned run ends it,
    # and a short edit finishes. Without the lease the 1000 steps of 4 candidates (over 70 s)
    # would hold the only replica first.
    engine = None
    for _ in range(600):  # a hang guard, in tries
        try:
            engine = RemoteBackend.connect(served.url, token=served.token, timeout=60, info_timeout=5)
            break
        except Exception:
            time.sleep(0.1)
    assert engine is not None
    events = list(engine.run(demo_request(steps=4)))
    served_after = time.perf_counter() - killed
    assert isinstance(events[-1], Finished)
    print(f"the next request was served {served_after:.1f} s after the ingress was killed")
    assert served_after < 60  # generous for a loaded machine; about 5-10 s here
