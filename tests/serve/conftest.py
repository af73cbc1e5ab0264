"""A Ray Serve instance with the demo model on loopback, shared by the serve tests.

Skipped only where ray is not installed and $CI is not set; under CI a missing
ray is an error, so the remote backend is always tested there.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest
from serve_helpers import LIMITS, TOKEN, Served

from reference_data import strict


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _import_ray():
    try:
        import ray
        from ray import serve
    except ImportError as exc:
        if strict():
            raise RuntimeError(f"ray[serve] must be installed in CI: {exc}") from exc
        pytest.skip('ray[serve] is not installed (pip install -e ".[serve]")')
    return ray, serve


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """The demo model is tiny: on a busy 2-core machine two torch threads spin against
    each other (20 steps: 36 s against 1.3 s with one thread measured here)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def served() -> Iterator[Served]:
    """One local Ray instance (2 CPUs, no dashboard, a small object store), one demo replica."""
    ray, serve = _import_ray()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no reporting home from tests
    from glide_studio.serve.deployment import DeployOptions, deploy
    from glide_studio.serve.service import ServiceConfig

    port = _free_port()
    config = ServiceConfig(demo=True, device="cpu", token=TOKEN, limits=LIMITS, threads=1)
    deploy(
        DeployOptions(service=config, replicas=1, cpus_per_replica=1),
        host="127.0.0.1",
        port=port,
        ray_init={"num_cpus": 2, "object_store_memory": 100 * 2**20, "log_to_driver": False},
    )
    try:
        yield Served(url=f"http://127.0.0.1:{port}", token=TOKEN, limits=LIMITS)
    finally:
        serve.shutdown()
        ray.shutdown()
