"""``glide-studio [gui] [IMAGE]``: the desktop studio.

Importing this module is cheap (no Qt, no torch): the parser for every
subcommand is built at start-up. Qt is imported in ``run``, and the models
are loaded by the window's worker thread through ``core.backends``, so the
window appears at once and says "Loading model…" meanwhile.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from glide_studio.core.runtime.precision import PRECISIONS

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", nargs="?", metavar="IMAGE", help="a picture to open (PNG, JPEG, WebP, ...)")
    parser.add_argument(
        "--weights-dir",
        metavar="DIR",
        help="folder of the GLIDE weights (default: $GLIDE_STUDIO_WEIGHTS, else the user cache folder)",
    )
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    parser.add_argument(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help="what the models compute in; auto (default): float16 on CUDA; on CPUs with native bf16 "
        "the upsampler in bfloat16, the base model in float32; float32 elsewhere",
    )
    parser.add_argument(
        "--settings",
        metavar="FILE",
        help="keep the preferences in this INI file instead of the user's (for testing or a portable setup)",
    )


def _local_backend(weights_dir: str | None, device: str | None, precision: str = "auto") -> Any:
    """Called on the model thread: this computer's models (the real weights, or the demo model)."""
    from glide_studio.core.backends import LocalOptions, open_backend

    return open_backend(local=LocalOptions(weights_dir=weights_dir, device=device, precision=precision))


def run(args: argparse.Namespace) -> int:
    try:
        from glide_studio.qt.app import run_window
    except ImportError as exc:
        print(
            f"glide-studio: error: the desktop app needs PySide6 ({exc}); pip install PySide6-Essentials",
            file=sys.stderr,
        )
        return 1

    def factory() -> Any:
        return _local_backend(args.weights_dir, args.device, args.precision)

    def store() -> Any:
        from glide_studio.core.weights.store import ModelStore

        return ModelStore.locate(args.weights_dir)

    return run_window(factory, image=args.image, settings_file=args.settings, store_locator=store)
