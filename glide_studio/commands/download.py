"""``glide-studio download``: fetch the released weights ahead of time.

Only checkpoints are fetched: the tokenizer vocabulary ships with the package.
Torch and the store are imported inside ``run`` so that building the parser
for any subcommand stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from glide_studio.core.weights.released import DEFAULT_GROUP, GROUPS, RELEASED

if TYPE_CHECKING:
    from glide_studio.core.weights.store import ModelStore

__all__ = ["DEFAULT_NAMES", "add_arguments", "resolve_names", "run"]

DEFAULT_NAMES = GROUPS[DEFAULT_GROUP]
"""What the inpainting editor needs."""
_PROG = "glide-studio"


class _UsageError(Exception):
    """Bad names on the command line: exit status 2, like argparse."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Environment: GLIDE_STUDIO_WEIGHTS sets the default folder; GLIDE_STUDIO_MIRROR is a base URL "
        "that serves the files under their released names, used instead of the official servers. "
        "An interrupted download resumes when the command is run again."
    )
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"checkpoints to fetch: {', '.join(RELEASED)} (default: the --models {DEFAULT_GROUP} files)",
    )
    groups = "; ".join(f"{g} = {' + '.join(names)}" for g, names in GROUPS.items())
    parser.add_argument(
        "--models",
        metavar="GROUPS",
        default=None,
        help=f"comma-separated groups: {groups} (default {DEFAULT_GROUP})",
    )
    parser.add_argument("--all", action="store_true", help="every released checkpoint (about 6.9 GB)")
    parser.add_argument(
        "--weights-dir",
        metavar="DIR",
        help="folder for the weights (default: $GLIDE_STUDIO_WEIGHTS, else the user cache folder)",
    )


def run(args: argparse.Namespace) -> int:
    from glide_studio.core.weights.store import DownloadCancelled, ModelStore, StoreError

    try:
        names = resolve_names(args.names, models=args.models, everything=args.all)
        store = ModelStore.locate(args.weights_dir)
        for name in names:
            _fetch(store, name)
    except _UsageError as exc:
        return _fail(str(exc), status=2)
    except DownloadCancelled as exc:
        return _fail(str(exc), status=130)
    except KeyboardInterrupt:
        return _fail("download interrupted; run the same command again to resume", status=130)
    except (StoreError, OSError) as exc:
        return _fail(str(exc).replace("\n", " "), status=1)
    print(f"GLIDE files are in {store.folder}")
    return 0


def resolve_names(
    requested: Sequence[str], *, models: str | None = None, everything: bool = False
) -> list[str]:
    """Names, groups and ``--all`` to the list of checkpoints, default group if none; no repeats."""
    names = list(requested)
    for group in filter(None, (g.strip() for g in (models or "").split(","))):
        if group not in GROUPS:
            raise _UsageError(f"unknown model group {group!r} (choose from {', '.join(GROUPS)})")
        names += GROUPS[group]
    if everything or "all" in names:
        names = list(RELEASED)
    unknown = [n for n in names if n not in RELEASED]
    if unknown:
        hint = " (the tokenizer ships with glide-studio now)" if unknown[0] in ("encoder", "bpe") else ""
        raise _UsageError(f"unknown file {unknown[0]!r}{hint}; choose from {', '.join(RELEASED)}, or --all")
    return list(dict.fromkeys(names or DEFAULT_NAMES))


def _fetch(store: ModelStore, name: str) -> None:
    """Skip a present file that verifies; move a damaged one aside and download again."""
    from glide_studio.core.weights.store import VerificationError

    path = store.path(name)
    if store.has(name):
        try:
            store.verify(name)
        except VerificationError as exc:
            aside = store.set_aside(name)
            print(f"{path.name}: {exc.problem}; moved it to {aside.name}, downloading again")
        else:
            print(f"{path.name}: already present")
            return
    _download_with_bar(store, name)
    print(f"{path.name}: downloaded to {path}")


def _download_with_bar(store: ModelStore, name: str) -> None:
    from tqdm import tqdm

    entry = store.entry(name)
    # disable=None: no bar when stderr is not a terminal (logs, pipes, tests).
    with tqdm(
        desc=entry.filename, unit="B", unit_scale=True, unit_divisor=1024, disable=None, leave=True
    ) as bar:

        def progress(done: int, total: int | None) -> None:
            if total is not None and bar.total != total:
                bar.total = total
                bar.refresh()
            bar.n = done  # may go back when a server ignores a resume request
            bar.refresh()

        store.download(name, progress=progress)


def _fail(message: str, *, status: int) -> int:
    print(f"{_PROG}: error: {message}", file=sys.stderr)
    return status
