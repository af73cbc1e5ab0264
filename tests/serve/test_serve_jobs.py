"""Jobs, the queue and the ingress's safe defaults, without Ray: the ingress driven as a plain
object over a fake replica that runs one edit at a time (real event lines of the demo model)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from serve_helpers import demo_request

from glide_studio.core.generation.cancel import CancelToken
from glide_studio.core.remote.wire import Limits, request_to_wire
from glide_studio.core.runtime.engine import load_local_backend
from glide_studio.serve.jobs import JobBoard, JobSettings, QueueFull
from glide_studio.serve.service import EditRunner, ServiceConfig

pytest.importorskip("ray")
pytest.importorskip("starlette")
from starlette.requests import Request

from glide_studio.serve.deployment import Gateway

TOKEN = "a-token-of-sixteen-chars"


@pytest.fixture(scope="module")
def run_lines() -> list[bytes]:
    runner = EditRunner(load_local_backend(demo=True, device="cpu"), ServiceConfig(demo=True))
    return list(runner.lines(demo_request(steps=5, candidates=2), CancelToken()))


class FakeReplicas:
    """``count`` replicas taking one edit each; every run yields ``lines``, one per ``tick``."""

    def __init__(self, lines: list[bytes], count: int = 1) -> None:
        self.lines = lines
        self.free = asyncio.Semaphore(count)
        self.started: list[str] = []
        self.hold = asyncio.Event()
        self.hold.set()
        self.fail_after: int | None = None

    def runner(self):
        async def run(edit, job_id: str) -> AsyncIterator[bytes]:
            async with self.free:
                self.started.append(job_id)
                for k, line in enumerate(self.lines):
                    if self.fail_after is not None and k == self.fail_after:
                        raise RuntimeError("actor 5f2e… at 10.0.0.7:6379 died")
                    if k:  # a run starts at once, then waits while ``hold`` is clear
                        await self.hold.wait()
                    await asyncio.sleep(0)
                    yield line

        return run


def _kinds(lines) -> list[str]:
    return [json.loads(line)["event"] for line in lines]


async def _collect(job, after=0) -> list[bytes]:
    return [line async for line in job.follow(after)]


def _board(replicas: FakeReplicas, **settings) -> JobBoard:
    return JobBoard(replicas.runner(), JobSettings(**settings))


def test_jobs_queue_with_positions_and_replay_from_any_event(run_lines):
    async def scenario():
        replicas = FakeReplicas(run_lines)
        replicas.hold.clear()
        board = _board(replicas)
        jobs = [board.submit(demo_request()) for _ in range(3)]
        watch = asyncio.create_task(_collect(jobs[2]))
        await asyncio.sleep(0.01)
        assert [j.position for j in jobs] == [0, 1, 2]  # the first one runs; the others wait
        assert board.counts()["queued"] == 2 and board.counts()["running"] == 1
        replicas.hold.set()
        third = await asyncio.wait_for(watch, 60)
        return jobs, third

    jobs, third = asyncio.run(scenario())
    kinds = _kinds(third)
    # Live, the third job saw its place move: 3rd, 2nd, 1st... then its own run.
    positions = [json.loads(line)["position"] for line in third if b'"queued"' in line]
    assert positions == [3, 2, 1][-len(positions) :] and positions[-1] == 1
    assert kinds[len(positions)] == "started" and kinds[-1] == "finished"
    assert [json.loads(line)["n"] for line in third] == sorted({json.loads(line)["n"] for line in third})
    # Replayed after the end: the same run, older previews and queue places left out, numbers kept.
    again = asyncio.run(_collect(jobs[2]))
    assert _kinds(again).count("preview") == 1 and _kinds(again).count("candidate") == 2
    assert json.loads(again[-1]) == json.loads(third[-1])
    numbers = [json.loads(line)["n"] for line in again]
    later = asyncio.run(_collect(jobs[2], after=numbers[-3]))
    assert [json.loads(line)["n"] for line in later] == numbers[-2:]
    assert all(job.state == "finished" for job in jobs)


def test_cancel_from_anywhere_while_queued_or_running(run_lines):
    async def scenario():
        replicas = FakeReplicas(run_lines)
        replicas.hold.clear()
        board = _board(replicas)
        running, queued, last = (board.submit(demo_request()) for _ in range(3))
        await asyncio.sleep(0.01)
        board.cancel(queued.id)
        await asyncio.sleep(0.01)
        assert queued.state == "cancelled" and last.position == 1  # the one behind moved up
        board.cancel(running.id)
        replicas.hold.set()
        await asyncio.wait_for(asyncio.gather(running.task, last.task), 60)
        return replicas, running, queued, last

    replicas, running, queued, last = asyncio.run(scenario())
    assert queued.id not in replicas.started  # a queued job never reached a replica
    assert _kinds(line for line in queued.lines if line)[-1] == "cancelled"
    assert json.loads(running.lines[-1])["event"] == "cancelled" and last.state == "finished"


def test_a_full_queue_is_refused_with_retry_after(run_lines):
    async def scenario():
        replicas = FakeReplicas(run_lines)
        replicas.hold.clear()
        board = _board(replicas, max_queue=2)
        jobs = [board.submit(demo_request())]
        await asyncio.sleep(0.01)  # the first one now runs
        jobs += [board.submit(demo_request()) for _ in range(2)]  # two wait
        with pytest.raises(QueueFull, match=r"queue is full \(2 edits waiting\)") as caught:
            board.submit(demo_request())
        for job in jobs:
            board.cancel(job.id)
        replicas.hold.set()
        await asyncio.gather(*(job.task for job in jobs), return_exceptions=True)
        assert [job.state for job in jobs] == ["cancelled"] * 3
        return caught.value

    refusal = asyncio.run(scenario())
    assert refusal.status == 429 and refusal.retry_after >= 5


def test_a_run_over_the_time_limit_fails_naming_the_limit(run_lines):
    async def scenario():
        replicas = FakeReplicas(run_lines[:1])  # started, then nothing: a run that never ends
        never = asyncio.Event()

        async def run(edit, job_id):
            yield run_lines[0]
            await never.wait()

        board = JobBoard(run, JobSettings(max_seconds=0.05))
        job = board.submit(demo_request())
        await asyncio.wait_for(job.task, 60)  # a hang guard: the limit ends it
        return replicas, job

    _, job = asyncio.run(scenario())
    assert job.state == "failed"
    assert "limit of 0.05 s per edit" in json.loads(job.lines[-1])["message"]


def test_a_broken_replica_gives_a_short_message(run_lines):
    async def scenario():
        replicas = FakeReplicas(run_lines)
        replicas.fail_after = 3
        board = _board(replicas)
        job = board.submit(demo_request())
        await asyncio.wait_for(job.task, 60)
        return job

    job = asyncio.run(scenario())
    message = json.loads(job.lines[-1])["message"]
    assert job.state == "failed" and "lost the model replica" in message
    assert "10.0.0.7" not in message and "actor" not in message


def test_finished_results_are_kept_for_a_while_then_forgotten(run_lines):
    now = [0.0]

    async def scenario():
        board = JobBoard(
            FakeReplicas(run_lines).runner(), JobSettings(keep_results_s=600), clock=lambda: now[0]
        )
        job = board.submit(demo_request())
        await asyncio.wait_for(job.task, 60)
        now[0] += 599
        assert board.get(job.id) is job
        now[0] += 2
        with pytest.raises(Exception, match=r"no job .* kept for 10 min") as caught:
            board.get(job.id)
        assert caught.value.status == 404
        # Memory: beyond max_kept_bytes the oldest finished jobs go first.
        small = JobBoard(
            FakeReplicas(run_lines).runner(), JobSettings(max_kept_bytes=1), clock=lambda: now[0]
        )
        first = small.submit(demo_request())
        await first.task
        second = small.submit(demo_request())
        await second.task
        small.sweep()
        return small

    small = asyncio.run(scenario())
    assert small.counts()["kept"] == 0


# -- the ingress itself ---------------------------------------------------------------------


class FakeWorker:
    """Stands for the worker deployment's handle: ``options(stream=True).edit.remote(...)``."""

    def __init__(self, replicas: FakeReplicas, info: dict) -> None:
        self.replicas, self._info, self.run = replicas, info, replicas.runner()
        self.leases = []

    def options(self, **_):
        return self

    @property
    def edit(self):
        return self

    @property
    def info(self):
        async def answer():
            return self._info

        return type("Info", (), {"remote": staticmethod(answer)})

    def remote(self, edit, lease):
        self.leases.append(lease)
        return _Stream(self.run(edit, lease.job))


class _Stream:
    def __init__(self, gen) -> None:
        self.gen = gen

    def __aiter__(self):
        return self

    async def __anext__(self):
        return await self.gen.__anext__()

    def cancel(self) -> None:
        pass


async def _call(gateway, method, path, *, body=b"", headers=None, query=""):
    headers = {"host": "127.0.0.1:8000", **(headers or {})}
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    response = await gateway(Request(scope, receive))
    if hasattr(response, "body_iterator"):
        return response.status_code, [chunk async for chunk in response.body_iterator], response
    return response.status_code, json.loads(response.body), response


def _gateway(run_lines, *, token=None, **settings):
    runner = EditRunner(load_local_backend(demo=True, device="cpu"), ServiceConfig(demo=True))
    config = ServiceConfig(token=token, limits=Limits(max_steps=50), jobs=JobSettings(**settings))
    return Gateway(FakeWorker(FakeReplicas(run_lines), runner.info()), config)


def test_the_ingress_refuses_what_a_web_page_could_send(run_lines):
    body = json.dumps(request_to_wire(demo_request(steps=4))).encode()
    json_type = {"content-type": "application/json"}

    async def scenario():
        open_gateway, locked = _gateway(run_lines), _gateway(run_lines, token=TOKEN)
        answers = {
            "form": await _call(
                open_gateway, "POST", "/v1/jobs", body=body, headers={"content-type": "text/plain"}
            ),
            "no type": await _call(open_gateway, "POST", "/v1/edit", body=body),
            "rebound": await _call(open_gateway, "GET", "/v1/info", headers={"host": "evil.example:8000"}),
            "ip": await _call(open_gateway, "GET", "/v1/info", headers={"host": "192.168.1.4:8000"}),
            "deep": await _call(open_gateway, "POST", "/v1/jobs", body=b"[" * 100_000, headers=json_type),
            "steps": await _call(
                open_gateway,
                "POST",
                "/v1/jobs",
                body=json.dumps(request_to_wire(demo_request(steps=60))).encode(),
                headers=json_type,
            ),
            "token": await _call(locked, "GET", "/v1/info", headers={"host": "gpu-box:8000"}),
        }
        fine = [
            await _call(open_gateway, "GET", "/v1/info", headers={"host": host})
            for host in ("localhost:8000", "127.0.0.1", "[::1]:8000")
        ]
        with_token = await _call(
            locked, "GET", "/v1/info", headers={"host": "gpu-box:8000", "authorization": f"Bearer {TOKEN}"}
        )
        return answers, fine, with_token

    answers, fine, with_token = asyncio.run(scenario())
    assert answers["form"][0] == answers["no type"][0] == 415
    assert "application/json" in answers["form"][1]["error"]
    assert answers["rebound"][0] == answers["ip"][0] == 421
    assert answers["deep"][0] == 400 and "nested" in answers["deep"][1]["error"]
    assert answers["steps"][0] == 400 and "at most 50" in answers["steps"][1]["error"]
    assert answers["token"][0] == 401  # with a token any Host is fine, but the token is needed
    assert [status for status, _, _ in fine] == [200, 200, 200] and with_token[0] == 200
    for _, _, response in [*answers.values(), *fine]:
        assert not any(k.lower().startswith("access-control") for k in response.headers)  # no CORS
    info = fine[0][1]
    assert info["features"] == ["jobs", "resume", "queue"] and info["queue"]["max_queue"] == 64


def test_the_job_endpoints(run_lines):
    body = json.dumps(request_to_wire(demo_request(steps=5, candidates=2))).encode()
    json_type = {"content-type": "application/json"}

    async def scenario():
        gateway = _gateway(run_lines, max_queue=1)
        gateway.worker.replicas.hold.clear()
        status, first, _ = await _call(gateway, "POST", "/v1/jobs", body=body, headers=json_type)
        _, second, _ = await _call(gateway, "POST", "/v1/jobs", body=body, headers=json_type)
        await asyncio.sleep(0.01)
        full = await _call(gateway, "POST", "/v1/jobs", body=body, headers=json_type)
        state = (await _call(gateway, "GET", f"/v1/jobs/{second['id']}"))[1]
        deleted = (await _call(gateway, "DELETE", f"/v1/jobs/{second['id']}"))[1]
        gateway.worker.replicas.hold.set()
        _, lines, _ = await _call(gateway, "GET", f"/v1/jobs/{first['id']}/events", query="after=0")
        _, tail, _ = await _call(gateway, "GET", f"/v1/jobs/{first['id']}/events", query="after=5")
        missing = await _call(gateway, "GET", "/v1/jobs/nothing-here")
        bad_after = await _call(gateway, "GET", f"/v1/jobs/{first['id']}/events", query="after=x")
        edit_status, edit_lines, _ = await _call(gateway, "POST", "/v1/edit", body=body, headers=json_type)
        return (
            status,
            first,
            second,
            full,
            state,
            deleted,
            lines,
            tail,
            missing,
            bad_after,
            edit_status,
            edit_lines,
        )

    status, first, second, full, state, deleted, lines, tail, missing, bad_after, edit_status, edit_lines = (
        asyncio.run(scenario())
    )
    assert status == 202 and first["state"] == "queued" and first["position"] == 1
    assert first["events"] == f"/v1/jobs/{first['id']}/events"
    assert second["position"] == 1  # the first one had started meanwhile
    assert full[0] == 429 and full[2].headers["retry-after"].isdigit()
    assert state["state"] == "queued" and state["position"] == 1
    assert deleted["state"] in ("queued", "cancelled")
    assert _kinds(lines)[-1] == "finished" and _kinds(lines).count("candidate") == 2
    assert all(json.loads(line)["n"] > 5 for line in tail) and _kinds(tail)[-1] == "finished"
    assert missing[0] == 404 and "kept for 10 min" in missing[1]["error"]
    assert bad_after[0] == 400
    # /v1/edit is a job too, streamed on the same connection without queue places (older clients).
    assert edit_status == 200 and "queued" not in _kinds(edit_lines) and _kinds(edit_lines)[-1] == "finished"
