"""A bounded load test of ``glide-studio serve``: N concurrent clients, a fixed count of demo edits.

Starts Ray Serve on loopback with the demo model (or uses a loopback server
already running, ``--url``), runs ``--edits`` edits from ``--clients`` threads
through the stdlib client, and reports throughput, p50/p95 latency to the first
preview and to the finished run, and whether every request came back. Stops by
itself: each edit has a timeout and the whole run a deadline.

    python benchmarks/serve_load.py --clients 4 --edits 24 --replicas 2 --steps 20
"""

from __future__ import annotations

import argparse
import json
import os
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


def _client(
    engine: RemoteBackend, queue: list[int], lock: threading.Lock, results: dict, args, deadline
) -> None:
    while time.monotonic() < deadline:
        with lock:
            if not queue:
                return
            k = queue.pop()
        outcome = results[k] = Outcome()
        start = time.perf_counter()
        try:
            for event in engine.run(_request(k, args.steps, args.candidates)):
                if isinstance(event, Preview) and outcome.first_preview is None:
                    outcome.first_preview = time.perf_counter() - start
                if isinstance(event, Finished) and len(event.candidates) == args.candidates:
                    outcome.finished = time.perf_counter() - start
        except RemoteError as exc:
            outcome.error = str(exc)


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered), 3), "p95": round(p95, 3)}


def _start_server(args) -> str:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from glide_studio.serve.deployment import DeployOptions, deploy
    from glide_studio.serve.service import ServiceConfig

    config = ServiceConfig(demo=True, device="cpu", threads=1)
    deploy(
        DeployOptions(service=config, replicas=args.replicas, cpus_per_replica=1),
        host="127.0.0.1",
        port=args.port,
        ray_init={"num_cpus": max(args.replicas, os.cpu_count() or 1), "log_to_driver": False},
    )
    return f"http://127.0.0.1:{args.port}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--edits", type=int, default=24)
    parser.add_argument("--replicas", type=int, default=2, help="replicas of the server this starts")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--candidates", type=int, default=1)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--url", default=None, help="a loopback server already running, instead of starting one"
    )
    parser.add_argument("--token", default=None)
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds before no new edit starts")
    args = parser.parse_args()
    if args.url is not None and not is_loopback(urlsplit(args.url).hostname or ""):
        parser.error(f"--url {args.url}: this load test runs on loopback only")
    if not (1 <= args.clients <= 64 and 1 <= args.edits <= 1000):
        parser.error("--clients must be 1..64 and --edits 1..1000")
    url = args.url or _start_server(args)
    engine = RemoteBackend.connect(url, token=args.token, timeout=120)
    queue, lock, results = list(range(args.edits))[::-1], threading.Lock(), {}
    deadline = time.monotonic() + args.deadline
    start = time.perf_counter()
    threads = [
        threading.Thread(target=_client, args=(engine, queue, lock, results, args, deadline))
        for _ in range(args.clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    done = [o for o in results.values() if o.finished is not None]
    report = {
        "command": " ".join(["python", *sys.argv]),
        "server": engine.info.description,
        "clients": args.clients,
        "replicas": args.replicas if args.url is None else None,
        "edits_asked": args.edits,
        "edits_finished": len(done),
        "lost": args.edits - len(done),
        "errors": sorted({o.error for o in results.values() if o.error})[:5],
        "wall_s": round(wall, 2),
        "throughput_edits_per_s": round(len(done) / wall, 3),
        "first_preview_s": _percentiles([o.first_preview for o in done if o.first_preview is not None]),
        "finish_s": _percentiles([o.finished for o in done]),
    }
    print(json.dumps(report, indent=2))
    if args.url is None:
        from ray import serve

        serve.shutdown()
    return 0 if report["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
