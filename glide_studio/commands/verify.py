"""``glide-studio verify``: re-hash the weights against the manifests written when they arrived.

Loading only compares size and modification time with the manifest (cheap);
this reads every byte, for when a disk, a copy or a sync tool is suspected.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from glide_studio.core.weights.released import RELEASED

if TYPE_CHECKING:
    from glide_studio.core.weights.store import ModelStore

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"checkpoints to check: {', '.join(RELEASED)} (default: every one present)",
    )
    parser.add_argument(
        "--weights-dir",
        metavar="DIR",
        help="the weights folder (default: $GLIDE_STUDIO_WEIGHTS, else the user cache folder)",
    )


def run(args: argparse.Namespace) -> int:
    """Exit 0 when every file checked is intact, 1 when one is not (or none is there), 2 on bad names."""
    from glide_studio.core.weights.store import ModelStore, StoreError

    unknown = [n for n in args.names if n not in RELEASED]
    if unknown:
        return _fail(f"unknown file {unknown[0]!r}; choose from {', '.join(RELEASED)}", status=2)
    try:
        store = ModelStore.locate(args.weights_dir)
    except StoreError as exc:
        return _fail(str(exc), status=1)
    names = list(dict.fromkeys(args.names)) or [n for n in RELEASED if store.has(n)]
    if not names:
        return _fail(f"no GLIDE files in {store.folder}; fetch them with `glide-studio download`", status=1)
    failures = sum(not _check(store, name) for name in names)
    if failures:
        return _fail(f"{failures} of {len(names)} files failed the check in {store.folder}", status=1)
    print(f"all {len(names)} files are intact in {store.folder}")
    return 0


def _check(store: ModelStore, name: str) -> bool:
    """Print one line for ``name``; True when it is intact."""
    from glide_studio.core.weights.store import StoreError

    filename = store.entry(name).filename
    try:
        sidecar = store.rehash(name)
        store.verify(name)  # keys and shapes (and the manifest's size, refreshed mtime)
    except StoreError as exc:
        print(f"{filename}: FAILED: {str(exc).splitlines()[0]}")
        return False
    if sidecar is None:
        print(f"{filename}: keys and shapes match; no manifest (placed by hand?), so its hash is unknown")
    else:
        print(f"{filename}: OK (SHA-256 {sidecar.sha256[:16]}…, {sidecar.size} bytes)")
    return True


def _fail(message: str, *, status: int) -> int:
    print(f"glide-studio: error: {message}", file=sys.stderr)
    return status
