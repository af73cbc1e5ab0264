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
        "--token-file",
        type=Path,
        default=None,
        help=f"file holding the bearer token clients must send (default: ${TOKEN_ENV})",
    )
    parser.add_argument(
        "--token", default=None, help="the token itself (visible to other users in `ps`: prefer the file)"
    )
    parser.add_argument("--max-pixels", type=int, default=None, help="largest picture accepted, in pixels")
    parser.add_argument("--max-request-mb", type=float, default=None, help="largest request body, in MB")
    parser.add_argument("--max-steps", type=int, default=1000, help="most steps per stage of an edit (1000)")
    parser.add_argument(
        "--max-seconds", type=float, default=0, help="longest an edit may run, in seconds (0: no limit)"
    )
    parser.add_argument("--max-queue", type=int, default=64, help="edits that may wait; more get 429 (64)")
    parser.add_argument(
        "--keep-results", type=float, default=10, help="minutes a finished job stays fetchable (10)"
    )
    parser.add_argument(
        "--request-timeout", type=float, default=None, help="Ray's HTTP request timeout in seconds (none)"
    )
    parser.add_argument(
        "--target-ongoing", type=float, default=1.0, help="autoscaling: edits per replica it aims at (1)"
    )


def _fail(message: str, status: int = 2) -> int:
    print(f"glide-studio serve: error: {message}", file=sys.stderr)
    return status


MIN_TOKEN_CHARS = 16


def _token(args: argparse.Namespace) -> str | None:
    """The token from ``--token-file``, ``$GLIDE_STUDIO_TOKEN`` or (warned against) ``--token``."""
    if args.token_file is not None:
        try:
            text = args.token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not text"
            raise ValueError(f"--token-file {args.token_file}: cannot be read ({reason})") from None
        if not text or "\n" in text:
            raise ValueError(f"--token-file {args.token_file}: must hold the token alone on one line")
        return text
    if args.token:
        print(
            "glide-studio serve: warning: a token given with --token shows in the process list; "
            f"use ${TOKEN_ENV} or --token-file",
            file=sys.stderr,
        )
        return args.token
    return os.environ.get(TOKEN_ENV) or None


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
    shared = args.address is not None or not is_loopback(args.host)
    if token is not None and len(token) < MIN_TOKEN_CHARS and shared:
        return f"the token has {len(token)} characters; a shared server needs {MIN_TOKEN_CHARS} or more"
    if args.max_steps < 1 or args.max_seconds < 0 or args.max_queue < 0 or args.keep_results < 0:
        return "--max-steps must be at least 1; --max-seconds, --max-queue and --keep-results 0 or more"
    if args.target_ongoing <= 0 or (args.request_timeout is not None and args.request_timeout <= 0):
        return "--target-ongoing and --request-timeout must be above 0"
    return None


def _options(args: argparse.Namespace, token: str | None, gpus: float):
    from glide_studio.core.remote.wire import Limits
    from glide_studio.serve.deployment import DeployOptions
    from glide_studio.serve.jobs import JobSettings
    from glide_studio.serve.service import ServiceConfig

    limits = Limits()
    limits = Limits(
        max_pixels=args.max_pixels or limits.max_pixels,
        max_body_bytes=int(args.max_request_mb * 2**20) if args.max_request_mb else limits.max_body_bytes,
        max_steps=args.max_steps,
    )
    jobs = JobSettings(
        max_queue=args.max_queue, max_seconds=args.max_seconds, keep_results_s=args.keep_results * 60
    )
    service = ServiceConfig(
        weights_dir=args.weights_dir.resolve() if args.weights_dir is not None else None,
        device=args.device,
        demo=True if args.demo else None,
        token=token,
        limits=limits,
        threads=max(1, int(args.cpus_per_replica)) if gpus == 0 else None,
        jobs=jobs,
    )
    return DeployOptions(
        service=service,
        replicas=args.replicas,
        min_replicas=args.min_replicas,
        max_replicas=args.max_replicas,
        gpus_per_replica=gpus,
        cpus_per_replica=args.cpus_per_replica,
        target_ongoing_requests=args.target_ongoing,
        request_timeout_s=args.request_timeout,
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    try:
        token = _token(args)
    except ValueError as exc:
        return _fail(str(exc))
    problem = _check(args, token)
    if problem:
        return _fail(problem)
    from glide_studio.serve.ray_setup import local_ray_options

    init_options = local_ray_options(host=args.host, address=args.address)  # before Ray reads its environment
    try:
        import ray

        from glide_studio.serve.deployment import deploy
    except ImportError as exc:
        return _fail(f'Ray Serve is not installed ({exc}); run: pip install "glide-studio[serve]"', 1)
    try:
        if not ray.is_initialized():
            ray.init(address=args.address, **init_options)
        if args.address is None:  # after ray.init, whose own handler would end the process at once
            signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop shuts Ray down cleanly
        gpus = args.gpus_per_replica
        if gpus is None:
            gpus = 1.0 if not args.demo and ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        deploy(_options(args, token, gpus), host=args.host, port=args.port)
        if args.address is None:
            url = f"http://{args.host}:{args.port}"
            each = f"{args.replicas} replica(s), {gpus:g} GPU each"
            print(f"Serving at {url} ({each}). Ctrl+C stops.", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        print("Stopping: running edits are cancelled.", file=sys.stderr, flush=True)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl+C must not interrupt the stop
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _stop(ray)
        return 0
    except Exception as exc:  # Ray reports failed replicas and unreachable clusters in many types
        if args.address is None and ray.is_initialized():
            ray.shutdown()  # the local instance this command started
        return _fail(f"could not start the server: {exc}", 1)
    print(
        f"Deployed onto the Ray cluster at {args.address}; Serve listens on port {args.port} "
        "of its nodes. It keeps running; stop it with `serve shutdown`."
    )
    return 0


def _stop(ray) -> None:
    """Stop the local instance this command started: its replicas end with it, a run under way
    is cancelled (clients get a lost connection, then no job), and Ray's processes exit."""
    import logging

    start = time.perf_counter()
    logging.getLogger("ray").setLevel(logging.ERROR)  # no warnings about the actors going away
    ray.shutdown()
    print(f"Stopped in {time.perf_counter() - start:.1f} s.", file=sys.stderr, flush=True)
