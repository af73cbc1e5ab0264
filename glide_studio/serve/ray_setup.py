"""How this program starts a local Ray instance: as little of it reachable from outside as Ray allows.

Ray's defaults suit a cluster: a dashboard, a Prometheus metrics endpoint
without login, usage reports sent home, the node's public address. A server
started for one machine (HTTP on loopback) needs none of them.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from .service import is_loopback

__all__ = ["local_ray_options", "quiet_ray_environment"]


def quiet_ray_environment(*, loopback: bool) -> None:
    """No usage reports and no metrics export; on ``loopback`` every Ray service on 127.0.0.1.

    Ray reads the last of these when it is imported (on Linux it otherwise binds its
    services to the machine's address even when asked for 127.0.0.1): call this first."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ["RAY_enable_metrics_collection"] = "0"  # noqa: SIM112 (Ray reads this exact name)
    # One machine: Ray's single-node mode. Only before Ray is imported: its driver and the
    # processes it starts must agree on it (a test process that imported Ray already keeps it).
    if loopback and "ray" not in sys.modules:
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"


def local_ray_options(*, host: str, address: str | None) -> dict[str, Any]:
    """``ray.init`` keywords (no dashboard; on a loopback host the node on 127.0.0.1), after
    setting Ray's environment: call it before Ray is imported. Joining a cluster
    (``address``) keeps the cluster's own settings."""
    if address is not None:
        return {}
    loopback = is_loopback(host)
    quiet_ray_environment(loopback=loopback)
    options: dict[str, Any] = {"include_dashboard": False}
    if loopback:
        options["_node_ip_address"] = "127.0.0.1"
    return options
