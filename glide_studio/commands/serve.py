"""``glide-studio serve``: run the editing models as a Ray Serve application.

Without ``--address`` a local Ray instance is started (one GPU box) and the
command serves until Ctrl+C; with ``--address`` the application is deployed
onto an existing Ray cluster and keeps running there after the command exits.
Ray is imported only here, and only when the command runs.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

TOKEN_ENV = "GLIDE_STUDIO_TOKEN"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--address", default=None, help="an existing Ray cluster (e.g. auto, ray://head:10001)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    parser.add_argument("--replicas", type=int, default=1, help="model replicas (default 1)")
    parser.add_argument("--min-replicas", type=int, default=None, help="autoscaling: fewest replicas")
    parser.add_argument("--max-replicas", type=int, default=None, help="autoscaling: most replicas")
    parser.add_argument(
        "--gpus-per-replica", type=float, default=None, help="GPUs per replica (default: 1 if Ray sees a GPU)"
    )
    parser.add_argument("--cpus-per-replica", type=float, default=1.0, help="CPUs per replica (default 1)")
    parser.add_argument("--weights-dir", type=Path, default=None, help="folder with the released files")
    parser.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N or mps")
    parser.add_argument("--demo", action="store_true", help="serve the built-in demo model")
    parser.add_argument(
        "--token", default=None, help=f"bearer token clients must send (default: ${TOKEN_ENV})"
    )
    parser.add_argument("--max-pixels", type=int, default=None, help="largest picture accepted, in pixels")
    parser.add_argument("--max-request-mb", type=float, default=None, help="largest request body, in MB")


def _fail(message: str, status: int = 2) -> int:
    print(f"glide-studio serve: error: {message}", file=sys.stderr)
    return status


def _check(args: argparse.Namespace, token: str | None) -> str | None:
    """The first thing wrong with the arguments, or None."""
    from glide_studio.serve.service import is_loopback

    if not 0 < args.port < 65536:
        return f"--port {args.port} is not a port number"
    if args.replicas < 1:
        return f"--replicas must be at least 1, got {args.replicas}"
    if args.min_replicas is not None and args.min_replicas < 0:
        return f"--min-replicas must be 0 or more, got {args.min_replicas}"
    if args.max_replicas is not None and args.max_replicas < max(1, args.min_replicas or 0):
        return f"--max-replicas {args.max_replicas} is below --min-replicas or under 1"
    if (args.gpus_per_replica or 0) < 0 or args.cpus_per_replica < 0:
        return "GPUs and CPUs per replica cannot be negative"
    if args.weights_dir is not None and not args.weights_dir.is_dir() and args.address is None:
        return f"{args.weights_dir}: no such folder"
    if token is None and (args.address is not None or not is_loopback(args.host)):
        where = f"--host {args.host}" if not is_loopback(args.host) else "a Ray cluster (--address)"
        return (
            f"serving on {where} needs a bearer token: set ${TOKEN_ENV} (or --token), e.g. "
            'to the output of `python -c "import secrets; print(secrets.token_urlsafe(32))"`'
        )
    return None


def _options(args: argparse.Namespace, token: str | None, gpus: float):
    from glide_studio.core.remote.wire import Limits
    from glide_studio.serve.deployment import DeployOptions
    from glide_studio.serve.service import ServiceConfig

    limits = Limits()
    if args.max_pixels is not None or args.max_request_mb is not None:
        limits = Limits(
            max_pixels=args.max_pixels or limits.max_pixels,
            max_body_bytes=int(args.max_request_mb * 2**20) if args.max_request_mb else limits.max_body_bytes,
        )
    service = ServiceConfig(
        weights_dir=args.weights_dir.resolve() if args.weights_dir is not None else None,
        device=args.device,
        demo=True if args.demo else None,
        token=token,
        limits=limits,
        threads=max(1, int(args.cpus_per_replica)) if gpus == 0 else None,
    )
    return DeployOptions(
        service=service,
        replicas=args.replicas,
        min_replicas=args.min_replicas,
        max_replicas=args.max_replicas,
        gpus_per_replica=gpus,
        cpus_per_replica=args.cpus_per_replica,
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get(TOKEN_ENV) or None
    problem = _check(args, token)
    if problem:
        return _fail(problem)
    try:
        import ray
        from ray import serve

        from glide_studio.serve.deployment import deploy
    except ImportError as exc:
        return _fail(f'Ray Serve is not installed ({exc}); run: pip install "glide-studio[serve]"', 1)
    try:
        if not ray.is_initialized():
            ray.init(address=args.address, include_dashboard=False)
        gpus = args.gpus_per_replica
        if gpus is None:
            gpus = 1.0 if not args.demo and ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        deploy(_options(args, token, gpus), host=args.host, port=args.port)
    except Exception as exc:  # Ray reports failed replicas and unreachable clusters in many types
        if args.address is None and ray.is_initialized():
            ray.shutdown()  # the local instance this command started
        return _fail(f"could not start the server: {exc}", 1)
    url = f"http://{args.host}:{args.port}"
    if args.address is not None:
        print(
            f"Deployed onto the Ray cluster at {args.address}; Serve listens on port {args.port} "
            "of its nodes. It keeps running; stop it with `serve shutdown`."
        )
        return 0
    print(f"Serving at {url} ({args.replicas} replica(s), {gpus:g} GPU each). Ctrl+C stops.", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop also shuts Ray down cleanly
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("Stopping.", file=sys.stderr)
    finally:
        serve.shutdown()
        ray.shutdown()
    return 0
