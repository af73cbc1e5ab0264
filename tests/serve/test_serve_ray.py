"""The remote backend end to end: Ray Serve on loopback, the demo model, the stdlib client."""

from __future__ import annotations

import base64
import http.client
import io
import json
import threading
import time
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image
from serve_helpers import demo_request

from glide_studio.cli import main
from glide_studio.core.generation.cancel import CancelToken
from glide_studio.core.generation.events import Cancelled, Candidate, Finished, Preview, Queued, Started
from glide_studio.core.remote.client import RemoteBackend, RemoteError
from glide_studio.core.remote.wire import request_to_wire
from glide_studio.core.runtime.engine import load_local_backend

pytestmark = pytest.mark.slow  # starts Ray Serve (tests/serve/conftest.py), then real runs through it


class _Unqueued:
    """The server's backend with its queue places left out (a local run has none to compare)."""

    def __init__(self, backend: RemoteBackend) -> None:
        self.backend, self.info, self.limits = backend, backend.info, backend.limits

    def run(self, request, *, cancel=None):
        events = self.backend.run(request, cancel=cancel)
        try:
            yield from (event for event in events if not isinstance(event, Queued))
        finally:
            events.close()


@pytest.fixture(scope="module")
def remote(served) -> _Unqueued:
    backend = RemoteBackend.connect(served.url, token=served.token, timeout=60)
    assert backend.jobs  # runs are jobs on this server
    return _Unqueued(backend)


@pytest.fixture(scope="module")
def local():
    return load_local_backend(demo=True, device="cpu")


def test_info_describes_the_served_models(remote, served):
    info = remote.info
    assert info.is_demo and info.remote and "demo" in info.description and served.url in info.description
    assert info.base_resolution == 32 and info.upsample_resolution == 128
    assert remote.limits == served.limits
    assert info.sampling is not None and info.sampling.base.sampler == "ancestral"
    assert info.device_label.startswith("CPU")
    assert info.capabilities.outpaint and not info.capabilities.text2im


def test_same_request_and_seed_give_the_local_pixels(remote, local):
    request = demo_request(steps=10, candidates=2, seed=11)
    remote_events = list(remote.run(request))
    local_events = list(local.run(request))
    assert [type(e) for e in remote_events] == [type(e) for e in local_events]
    assert remote_events[0] == local_events[0]  # Started: stages, steps, seeds, box
    remote_done, local_done = remote_events[-1], local_events[-1]
    assert isinstance(remote_done, Finished) and len(remote_done.candidates) == 2
    for theirs, ours in zip(remote_done.candidates, local_done.candidates, strict=True):
        assert (theirs.index, theirs.seed, theirs.box) == (ours.index, ours.seed, ours.box)
        assert np.array_equal(theirs.patch, ours.patch)
        assert np.array_equal(theirs.image, ours.image)  # rebuilt here from the original
        assert theirs.image.shape == request.image.shape
    previews = [e for e in remote_events if isinstance(e, Preview)]
    assert len(previews) == 10 and previews[-1].step == previews[-1].total == 10
    # Previews travel as lossless WebP frames: the same pixels as a local run's.
    local_previews = [e for e in local_events if isinstance(e, Preview)]
    for theirs, ours in zip(previews, local_previews, strict=True):
        assert (theirs.stage, theirs.step, theirs.box) == (ours.stage, ours.step, ours.box)
        assert all(np.array_equal(a, b) for a, b in zip(theirs.images, ours.images, strict=True))


def test_previews_arrive_while_the_run_goes_on(remote):
    arrivals = []
    for event in remote.run(demo_request(steps=60, candidates=2)):
        arrivals.append((type(event), time.perf_counter()))
    assert arrivals[0][0] is Started and arrivals[-1][0] is Finished
    # Relative, and counted from Started (so a slow start or a queue does not count): the first
    # preview comes one step in, about 1/60 of the way; a server that held the stream back would
    # deliver it with Finished. A 30x margin for machines whose load swings mid-run.
    started, finished = arrivals[0][1], arrivals[-1][1]
    first_preview = next(t for kind, t in arrivals if kind is Preview)
    assert first_preview - started < 0.5 * (finished - started), (first_preview - started, finished - started)


def _long_request():
    return demo_request(steps=1000, candidates=4, seed=5)


def test_cancel_frees_the_replica_for_the_next_request(remote):
    # 1000 steps of 4 candidates take far longer than the 20 s allowed below.
    token = CancelToken()
    seen = []
    for event in remote.run(_long_request(), cancel=token):
        seen.append(event)
        if sum(isinstance(e, Preview) for e in seen) == 2:
            token.cancel()
    assert isinstance(seen[0], Started) and isinstance(seen[-1], Cancelled)
    start = time.perf_counter()
    events = list(remote.run(demo_request(steps=8)))
    assert isinstance(events[-1], Finished)
    # Closing the generator (a consumer that stops iterating) cancels too.
    stream = remote.run(_long_request())
    assert isinstance(next(stream), Started)
    next(stream)
    stream.close()
    events = list(remote.run(demo_request(steps=8)))
    assert isinstance(events[-1], Finished)
    # A generous bound (about 1 s here, unloaded): a replica still busy with either long run
    # would take over 70 s, so it stays a real check under a load of 10 on two cores.
    assert time.perf_counter() - start < 30


def test_a_request_waiting_for_a_busy_replica_can_be_cancelled(remote):
    holder, waiter = CancelToken(), CancelToken()
    busy = remote.run(_long_request(), cancel=holder)
    assert isinstance(next(busy), Started)  # the only replica is now taken
    waited: list = []
    thread = threading.Thread(target=lambda: waited.extend(remote.run(_long_request(), cancel=waiter)))
    thread.start()
    time.sleep(0.5)
    waiter.cancel()
    # The join is a hang guard: the first run holds the only replica until it is cancelled
    # below, so a waiter that could not be cancelled would wait for it (over 70 s) and then
    # make its own 1000 steps.
    thread.join(60)
    assert not thread.is_alive()
    assert [type(e) for e in waited] == [Cancelled]  # it never started
    holder.cancel()
    assert isinstance(list(busy)[-1], Cancelled)
    # The cancelled long request left the queue: the next one does not wait for it.
    start = time.perf_counter()
    assert isinstance(list(remote.run(demo_request(steps=4)))[-1], Finished)
    # A generous bound (well under a second here, unloaded): had the cancelled request stayed
    # queued, its 1000 steps of 4 candidates (over 70 s) would run first.
    assert time.perf_counter() - start < 30


def test_two_clients_at_once_are_both_served(remote, local):
    requests = [demo_request(steps=15, seed=1), demo_request(steps=15, seed=2, size=(36, 30))]
    results: dict[int, list] = {}

    def client(k: int) -> None:
        results[k] = list(remote.run(requests[k]))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results) == [0, 1]
    for k, request in enumerate(requests):
        finished = results[k][-1]
        assert isinstance(finished, Finished)
        expected = [e for e in local.run(request) if isinstance(e, Candidate)]
        assert np.array_equal(finished.candidates[0].image, expected[0].image)


# -- bad requests ---------------------------------------------------------------------


def _post(url: str, body: bytes, *, token: str | None, path: str = "/v1/edit", method: str = "POST"):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def _png(array) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _bad_requests(served):
    good = request_to_wire(demo_request(steps=4))
    unknown = {**good, "settings": {**good["settings"], "strenght": 0.5}}
    typed = {**good, "settings": {**good["settings"], "guidance_scale": "3"}}
    sampler = {**good, "settings": {**good["settings"], "base": {"sampler": "euler", "steps": "4"}}}
    broken = {
        **good,
        "pictures": {**good["pictures"], "image": {"png": base64.b64encode(b"\x89PNG junk").decode()}},
    }
    huge_picture = np.zeros((600, 600, 3), np.uint8)  # 360 000 pixels, over the 300 000 limit
    huge = {**good, "pictures": {"image": {"png": _png(huge_picture)}, "mask": good["pictures"]["mask"]}}
    return [
        ("no token", json.dumps(good).encode(), None, 401, "bearer token"),
        ("wrong token", json.dumps(good).encode(), "guess", 401, "bearer token"),
        ("malformed JSON", b'{"settings": ', served.token, 400, "not valid JSON"),
        ("unknown setting", json.dumps(unknown).encode(), served.token, 400, "strenght"),
        ("unknown field", json.dumps({**good, "pickle": "x"}).encode(), served.token, 400, "pickle"),
        ("wrong type", json.dumps(typed).encode(), served.token, 400, "guidance_scale"),
        ("unknown sampler", json.dumps(sampler).encode(), served.token, 400, "euler"),
        ("broken image", json.dumps(broken).encode(), served.token, 400, "image"),
        ("too many pixels", json.dumps(huge).encode(), served.token, 413, "300000 pixels"),
        ("oversized body", b" " * (served.limits.max_body_bytes + 1), served.token, 413, "bytes"),
    ]


def test_each_bad_request_gets_its_4xx_without_reaching_a_model(remote, served):
    # The only replica is busy with a long run: an answer that needed a model would wait for it.
    token = CancelToken()
    busy = remote.run(_long_request(), cancel=token)
    assert isinstance(next(busy), Started)
    try:
        for name, body, bearer, status, words in _bad_requests(served):
            start = time.perf_counter()
            got, answer = _post(served.url, body, token=bearer)
            assert (got, answer.get("status")) == (status, status), (name, answer)
            assert words.lower() in answer["error"].lower(), (name, answer)
            # A generous bound (milliseconds here): one that needed the model would wait for the
            # busy 1000-step run (over 70 s).
            assert time.perf_counter() - start < 20, name
        assert _post(served.url, b"", token=served.token, path="/v1/nothing", method="GET")[0] == 404
        assert _post(served.url, b"", token=served.token, path="/v1/edit", method="GET")[0] == 405
        assert _post(served.url, b"", token=served.token, path="/v1/info", method="GET")[0] == 200
    finally:
        token.cancel()
        assert isinstance(list(busy)[-1], Cancelled)
    with pytest.raises(RemoteError, match="HTTP 401"):
        RemoteBackend.connect(served.url, token="guess")
    with pytest.raises(RemoteError, match="cannot reach"):
        RemoteBackend.connect("http://127.0.0.1:9", timeout=5)


def test_the_inpaint_command_runs_on_the_server(served, tmp_path, monkeypatch, capsys):
    request = demo_request(steps=6, seed=3)
    Image.fromarray(request.image).save(tmp_path / "photo.png")
    Image.fromarray(request.mask.astype(np.uint8) * 255).save(tmp_path / "mask.png")
    common = [
        "inpaint",
        str(tmp_path / "photo.png"),
        "--mask",
        str(tmp_path / "mask.png"),
        "--prompt",
        "a red circle",
        "--steps",
        "6",
        "--sampler",
        "ancestral",
        "--guidance",
        "3",
        "--seed",
        "3",
    ]
    monkeypatch.setenv("GLIDE_STUDIO_TOKEN", served.token)
    assert main([*common, "--server", served.url, "-o", str(tmp_path / "remote.png")]) == 0
    assert main([*common, "--demo", "--device", "cpu", "-o", str(tmp_path / "local.png")]) == 0
    remote, local = (
        np.asarray(Image.open(tmp_path / f"{n}.png").convert("RGB")) for n in ("remote", "local")
    )
    assert np.array_equal(remote, local) and not np.array_equal(remote, request.image)
    assert main([*common, "--server", served.url, "--demo", "-o", str(tmp_path / "x.png")]) == 1
    assert "--demo cannot be used with it" in capsys.readouterr().err
    monkeypatch.setenv("GLIDE_STUDIO_TOKEN", "guess")
    assert main([*common, "--server", served.url, "-o", str(tmp_path / "y.png")]) == 1
    assert "HTTP 401" in capsys.readouterr().err


def test_the_command_line_becomes_deployment_options(served):
    from glide_studio.cli import build_parser
    from glide_studio.commands.serve import _options
    from glide_studio.serve.deployment import DeployOptions

    argv = ["serve", "--demo", "--min-replicas", "0", "--max-replicas", "4", "--cpus-per-replica", "2"]
    args = build_parser().parse_args([*argv, "--max-pixels", "1000000", "--max-request-mb", "8"])
    options = _options(args, "tok", 0.0)
    worker = options.worker_options()
    assert worker["max_ongoing_requests"] == 1  # one edit per replica; the rest wait in Serve's queue
    assert worker["autoscaling_config"] == {
        "min_replicas": 0,
        "initial_replicas": 1,
        "max_replicas": 4,
        "target_ongoing_requests": 1,
    }
    assert worker["ray_actor_options"] == {"num_cpus": 2.0, "num_gpus": 0.0}
    assert options.service.token == "tok" and options.service.demo is True and options.service.threads == 2
    assert options.service.limits.max_pixels == 1_000_000
    assert options.service.limits.max_body_bytes == 8 * 2**20
    fixed = DeployOptions(replicas=3, gpus_per_replica=0.5).worker_options()
    assert fixed["num_replicas"] == 3 and "autoscaling_config" not in fixed
    assert fixed["ray_actor_options"]["num_gpus"] == 0.5
    with pytest.raises(ValueError, match="bad autoscaling bounds"):
        DeployOptions(min_replicas=3, max_replicas=2)


def test_the_generate_command_runs_on_the_server(served, tmp_path, monkeypatch):
    common = ["generate", "--prompt", "a red circle", "--size", "48", "--steps", "6", "--seed", "5"]
    common += ["--sampler", "ancestral", "--guidance", "3"]
    monkeypatch.setenv("GLIDE_STUDIO_TOKEN", served.token)
    assert main([*common, "--server", served.url, "-o", str(tmp_path / "remote.png")]) == 0
    assert main([*common, "--demo", "--device", "cpu", "-o", str(tmp_path / "local.png")]) == 0
    remote, local = (
        np.asarray(Image.open(tmp_path / f"{n}.png").convert("RGB")) for n in ("remote", "local")
    )
    assert remote.shape == (48, 48, 3) and np.array_equal(remote, local)


def test_outpainting_runs_on_the_server_square_by_square(served, tmp_path, monkeypatch, remote, local):
    from glide_studio.core.generation.canvas import Extension, extend_canvas
    from glide_studio.core.generation.request import OUTPAINT

    picture = demo_request(steps=4, seed=2).image
    canvas, mask = extend_canvas(picture, Extension(right=100))
    request = demo_request(steps=4, seed=2).with_changes(image=canvas, mask=mask, kind=OUTPAINT)
    theirs, ours = list(remote.run(request)), list(local.run(request))
    assert [type(e) for e in theirs] == [type(e) for e in ours]
    boxes = {(e.box.left, e.box.top) for e in theirs if isinstance(e, Preview)}
    assert len(boxes) >= 2, "the new area is filled square by square"
    assert np.array_equal(theirs[-1].candidates[0].image, ours[-1].candidates[0].image)
    Image.fromarray(picture).save(tmp_path / "photo.png")
    common = ["outpaint", str(tmp_path / "photo.png"), "--extend", "0,0,100,0", "--prompt", "a red circle"]
    common += ["--steps", "4", "--sampler", "ancestral", "--guidance", "3", "--seed", "2", "--no-upsample"]
    monkeypatch.setenv("GLIDE_STUDIO_TOKEN", served.token)
    assert main([*common, "--server", served.url, "-o", str(tmp_path / "remote.png")]) == 0
    assert main([*common, "--demo", "--device", "cpu", "-o", str(tmp_path / "local.png")]) == 0
    remote_png, local_png = (
        np.asarray(Image.open(tmp_path / f"{n}.png").convert("RGB")) for n in ("remote", "local")
    )
    assert remote_png.shape == (picture.shape[0], picture.shape[1] + 100, 3)
    assert np.array_equal(remote_png, local_png)


def test_a_chosen_square_and_the_detail_pass_run_on_the_server(remote, local):
    from glide_studio.core.generation.request import StageSettings
    from glide_studio.core.imaging.region import Region

    request = demo_request(steps=3, seed=4, size=(260, 300)).with_changes(
        use_upsampler=True,
        upsample=StageSettings(steps="2"),
        region=Region(left=40, top=20, size=220),
        detail="on",
        detail_steps="2",
    )
    theirs, ours = list(remote.run(request)), list(local.run(request))
    started = theirs[0]
    assert started == ours[0] and started.box == request.area().box
    assert started.stages.count("detail") >= 1
    assert [type(e) for e in theirs] == [type(e) for e in ours]
    assert np.array_equal(theirs[-1].candidates[0].image, ours[-1].candidates[0].image)
