"""A bounded load test of ``glide-studio serve``: N concurrent clients, a fixed count of demo edits.

Starts Ray Serve on loopback with the demo model (or uses a loopback server
already running, ``--url``), runs edits from each client count of ``--clients``
(threads, the stdlib client: every run is a job) and reports, per count, the
throughput, p50/p95 time to the first preview and to the finished run, how
many edits came back, and the machine's load average beside the figures.
``--drop-after`` puts a proxy in between that cuts every event stream after
that many bytes (the client resumes from the last event it got);
``--max-queue`` starts the server with that queue limit (a refused edit waits
for ``Retry-After`` and asks again; refusals are counted). Stops by itself:
each edit has a timeout and the whole run a deadline.

    python benchmarks/serve_load.py --clients 1,4,8,32 --replicas 2 --steps 20
    python benchmarks/serve_load.py --clients 8 --edits 32 --drop-after 20000 --max-queue 4
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np

from glide_studio.core.generation.events import Finished, Preview
from glide_studio.core.generation.request import EditRequest, StageSettings
from glide_studio.core.remote.client import RemoteBackend, RemoteError
from glide_studio.serve.service import is_loopback


@dataclass
class Outcome:
    first_preview: float | None = None
    finished: float | None = None
    error: str | None = None
    refused: int = 0


def _request(k: int, steps: int, candidates: int) -> EditRequest:
    rng = np.random.default_rng(k)
    image = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    mask = np.zeros((96, 128), bool)
    mask[30:70, 40:90] = True
    return EditRequest(
        image=image,
        mask=mask,
        prompt="a blue star",
        guidance_scale=3.0,
        base=StageSettings(sampler="ancestral", steps=str(steps)),
        use_upsampler=False,
        candidates=candidates,
        seed=k,
    )


def _one(engine: RemoteBackend, k: int, args, outcome: Outcome) -> None:
    """One edit; a full queue (429) is asked again after its Retry-After."""
    while True:
        start = time.perf_counter()
        try:
            for event in engine.run(_request(k, args.steps, args.candidates)):
                if isinstance(event, Preview) and outcome.first_preview is None:
                    outcome.first_preview = time.perf_counter() - start
                if isinstance(event, Finished) and len(event.candidates) == args.candidates:
                    outcome.finished = time.perf_counter() - start
            return
        except RemoteError as exc:
            if exc.status == 429 and outcome.refused < 100:
                outcome.refused += 1
                time.sleep(min(exc.retry_after or 1.0, 2.0))
                continue
            outcome.error = str(exc)
            return


def _client(engine: RemoteBackend, queue: list[int], lock: threading.Lock, results: dict, args, deadline):
    while time.monotonic() < deadline:
        with lock:
            if not queue:
                return
            k = queue.pop()
        results[k] = Outcome()
        _one(engine, k, args, results[k])


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered), 3), "p95": round(p95, 3)}


class DroppingProxy:
    """A loopback TCP proxy that cuts each server-to-client stream after ``limit`` bytes."""

    def __init__(self, upstream: tuple[str, int], limit: int) -> None:
        self.upstream, self.limit, self.cuts = upstream, limit, 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(client, server, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, self.limit), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if limit is not None and sent + len(data) > limit:
                    target.sendall(data[: limit - sent])
                    self.cuts += 1
                    break
                target.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def _start_server(args) -> str:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from glide_studio.serve.deployment import DeployOptions, deploy
    from glide_studio.serve.jobs import JobSettings
    from glide_studio.serve.service import ServiceConfig

    config = ServiceConfig(demo=True, device="cpu", threads=1, jobs=JobSettings(max_queue=args.max_queue))
    deploy(
        DeployOptions(service=config, replicas=args.replicas, cpus_per_replica=1),
        host="127.0.0.1",
        port=args.port,
        ray_init={"num_cpus": max(args.replicas, os.cpu_count() or 1), "log_to_driver": False},
    )
    return f"http://127.0.0.1:{args.port}"


def _run(engine: RemoteBackend, clients: int, edits: int, args) -> dict:
    queue, lock, results = list(range(edits))[::-1], threading.Lock(), {}
    deadline = time.monotonic() + args.deadline
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    threads = [
        threading.Thread(target=_client, args=(engine, queue, lock, results, args, deadline))
        for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    done = [o for o in results.values() if o.finished is not None]
    return {
        "clients": clients,
        "edits_asked": edits,
        "edits_finished": len(done),
        "lost": edits - len(done),
        "refused_429": sum(o.refused for o in results.values()),
        "errors": sorted({o.error for o in results.values() if o.error})[:5],
        "wall_s": round(wall, 2),
        "throughput_edits_per_s": round(len(done) / wall, 3),
        "first_preview_s": _percentiles([o.first_preview for o in done if o.first_preview is not None]),
        "finish_s": _percentiles([o.finished for o in done]),
        "load_avg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="4", help="client counts, comma-separated (e.g. 1,4,8,32)")
    parser.add_argument("--edits", type=int, default=None, help="edits per count (default: 2 × clients, ≥ 8)")
    parser.add_argument("--replicas", type=int, default=2, help="replicas of the server this starts")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--candidates", type=int, default=1)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--max-queue", type=int, default=64, help="the started server's queue limit")
    parser.add_argument("--drop-after", type=int, default=0, help="cut every event stream after N bytes")
    parser.add_argument(
        "--url", default=None, help="a loopback server already running, instead of starting one"
    )
    parser.add_argument("--token", default=None)
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds before no new edit starts")
    args = parser.parse_args()
    if args.url is not None and not is_loopback(urlsplit(args.url).hostname or ""):
        parser.error(f"--url {args.url}: this load test runs on loopback only")
    counts = [int(c) for c in args.clients.split(",")]
    if not all(1 <= c <= 64 for c in counts) or not 1 <= (args.edits or 8) <= 1000:
        parser.error("--clients must be 1..64 and --edits 1..1000")
    url = args.url or _start_server(args)
    proxy = None
    if args.drop_after:
        parts = urlsplit(url)
        proxy = DroppingProxy((parts.hostname or "127.0.0.1", parts.port or 80), args.drop_after)
        url = f"http://127.0.0.1:{proxy.port}"
    engine = RemoteBackend.connect(url, token=args.token, timeout=120)
    rows = [_run(engine, c, args.edits or max(8, 2 * c), args) for c in counts]
    report = {
        "command": " ".join(["python", *sys.argv]),
        "server": engine.info.description,
        "jobs": engine.jobs,
        "replicas": args.replicas if args.url is None else None,
        "max_queue": args.max_queue if args.url is None else None,
        "streams_cut": proxy.cuts if proxy is not None else 0,
        "cores": os.cpu_count(),
        "runs": rows,
    }
    print(json.dumps(report, indent=2))
    if args.url is None:
        from ray import serve

        serve.shutdown()
    return 0 if all(row["lost"] == 0 for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
