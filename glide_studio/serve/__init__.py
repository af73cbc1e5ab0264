"""Serving the editing pipeline over HTTP on Ray Serve (the optional ``serve`` extra).

``service`` and ``jobs`` are the framework-free part (checks, the event stream,
the job queue) and need no ray; ``deployment`` wraps them in Ray Serve
deployments; ``builder.app`` is the application builder for Ray's own commands:

    serve run glide_studio.serve:app demo=true
    serve build glide_studio.serve:app -o serve.yaml   # then: serve deploy serve.yaml
"""

from __future__ import annotations

import os
import sys
from typing import Any


def _serve_build() -> bool:
    """True inside Ray's ``serve build`` command."""
    return os.path.basename(sys.argv[0]) == "serve" and sys.argv[1:2] == ["build"]


def __getattr__(name: str) -> Any:
    """``app`` without importing Ray until it is asked for.

    ``serve run`` and a deployed config call a builder function with their
    arguments, but ``serve build`` accepts only a built application: there
    ``app`` is the application with default arguments, and the written config
    names ``glide_studio.serve:app`` again, so ``serve deploy`` calls the builder
    with the config's ``args:``."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from .builder import app

    return app({}) if _serve_build() else app
