"""Ray Serve's own deploy path: ``serve run glide_studio.serve:app demo=true``, ``serve build``.

``app`` is an application builder: Ray passes it the ``key=value`` arguments of
``serve run`` (or the ``args:`` of a config file) as a dict of strings or YAML
values. The token never travels in those arguments: it comes from
``$GLIDE_STUDIO_TOKEN`` where the application is built, or ``token_file=PATH``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..core.remote.wire import Limits
from .deployment import DeployOptions, build_app
from .jobs import JobSettings
from .service import ServiceConfig

__all__ = ["ARGUMENTS", "app", "options_from_args"]

TOKEN_ENV = "GLIDE_STUDIO_TOKEN"
ARGUMENTS = {
    "demo": "true: the built-in demo model",
    "weights_dir": "folder with the released files (the same path on every node)",
    "device": "auto, cpu, cuda, cuda:N or mps",
    "token_file": f"file holding the bearer token (default: ${TOKEN_ENV})",
    "replicas": "model replicas (1)",
    "min_replicas": "autoscaling: fewest replicas",
    "max_replicas": "autoscaling: most replicas",
    "target_ongoing": "autoscaling: edits per replica it aims at (1)",
    "gpus_per_replica": "GPUs per replica (0)",
    "cpus_per_replica": "CPUs per replica (1)",
    "max_pixels": "largest picture accepted",
    "max_request_mb": "largest request body",
    "max_steps": "most steps per stage (1000)",
    "max_seconds": "longest an edit may run (0: no limit)",
    "max_queue": "edits that may wait (64)",
    "keep_results": "minutes a finished job stays fetchable (10)",
}


def _value(args: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    if key not in args or args[key] is None:
        return default
    raw = args[key]
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text in ("true", "1", "yes")
        return kind(raw)
    except (TypeError, ValueError):
        raise ValueError(f"argument {key}={raw!r} is not a {kind.__name__}") from None


def options_from_args(args: dict[str, Any]) -> DeployOptions:
    """Deployment options from Ray's builder arguments; unknown names are refused, with the known ones."""
    args = {str(k).replace("-", "_"): v for k, v in (args or {}).items()}
    unknown = sorted(set(args) - set(ARGUMENTS))
    if unknown:
        raise ValueError(f"unknown arguments {', '.join(unknown)}; known: {', '.join(ARGUMENTS)}")
    token = os.environ.get(TOKEN_ENV) or None
    token_file = _value(args, "token_file", str, None)
    if token_file:
        token = Path(token_file).read_text(encoding="utf-8").strip() or None
    default = Limits()
    mb = _value(args, "max_request_mb", float, None)
    limits = Limits(
        max_pixels=_value(args, "max_pixels", int, default.max_pixels),
        max_body_bytes=int(mb * 2**20) if mb else default.max_body_bytes,
        max_steps=_value(args, "max_steps", int, default.max_steps),
    )
    jobs = JobSettings(
        max_queue=_value(args, "max_queue", int, 64),
        max_seconds=_value(args, "max_seconds", float, 0.0),
        keep_results_s=_value(args, "keep_results", float, 10.0) * 60,
    )
    weights = _value(args, "weights_dir", str, None)
    gpus = _value(args, "gpus_per_replica", float, 0.0)
    cpus = _value(args, "cpus_per_replica", float, 1.0)
    service = ServiceConfig(
        weights_dir=Path(weights) if weights else None,
        device=_value(args, "device", str, None),
        demo=True if _value(args, "demo", bool, False) else None,
        token=token,
        limits=limits,
        jobs=jobs,
        threads=max(1, int(cpus)) if gpus == 0 else None,
    )
    return DeployOptions(
        service=service,
        replicas=_value(args, "replicas", int, 1),
        min_replicas=_value(args, "min_replicas", int, None),
        max_replicas=_value(args, "max_replicas", int, None),
        target_ongoing_requests=_value(args, "target_ongoing", float, 1.0),
        gpus_per_replica=gpus,
        cpus_per_replica=cpus,
    )


def app(args: dict[str, Any]) -> Any:
    """The application builder Ray calls with the ``key=value`` arguments."""
    return build_app(options_from_args(args))
