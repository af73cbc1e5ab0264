"""How soon a run stops when cancelled in the middle of a model step, with full-size models.

Loads the released-shape random weights (as ``edit_speed.py`` writes them), runs
a short edit (2 base + 2 upsampler steps) on a worker thread, cancels
``--delay`` seconds into the upsampler's first step, and reports how long the
run took to end with ``Cancelled``, next to how long the garbage collector
paused while loading.

    python benchmarks/cancel_latency.py [--delay 1.0] [--precision auto]
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

import numpy as np
from common import emit, machine, rss_mb
from edit_speed import GcPauses

from glide_studio.core.generation.cancel import CancelToken
from glide_studio.core.generation.events import Cancelled, Preview
from glide_studio.core.generation.request import EditRequest, StageSettings
from glide_studio.core.runtime.engine import load_local_backend


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights-dir", type=Path, default=Path("/tmp/glide-random-weights"))
    parser.add_argument("--delay", type=float, default=1.0)
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()
    pauses = GcPauses()
    start = time.perf_counter()
    with pauses:
        engine = load_local_backend(
            weights_dir=args.weights_dir, device="cpu", demo=False, precision=args.precision
        )
    load_seconds = time.perf_counter() - start
    image = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    hole = np.zeros((256, 256), bool)
    hole[64:192, 64:192] = True
    request = EditRequest(
        image=image,
        mask=hole,
        prompt="a red barn",
        base=StageSettings(sampler="dpm++2m", steps="2"),
        upsample=StageSettings(sampler="dpm++2m", steps="2"),
    )
    token = CancelToken()
    base_done = threading.Event()
    events: list[object] = []
    ended: list[float] = []

    def consume() -> None:
        for event in engine.run(request, cancel=token):
            events.append(event)
            if isinstance(event, Preview) and event.stage == "base" and event.step == event.total:
                base_done.set()
        ended.append(time.perf_counter())

    worker = threading.Thread(target=consume)
    worker.start()
    base_done.wait()
    time.sleep(args.delay)
    cancelled_at = time.perf_counter()
    token.cancel()
    worker.join()
    emit(
        {
            "machine": machine(),
            "precision": engine.info.precision,
            "load_seconds": load_seconds,
            "gc_during_load": pauses.report(),
            "rss_mb": rss_mb(),
            "cancelled_into_upsampler_step_s": args.delay,
            "ended_after_cancel_s": ended[0] - cancelled_at,
            "last_event": type(events[-1]).__name__,
            "ended_cancelled": isinstance(events[-1], Cancelled),
        }
    )


if __name__ == "__main__":
    main()
