"""``glide-studio info FILE``: what a picture or project holds, as a person reads it.

Size, bit depth, colour profile and each recorded edit (prompt, seed, sampler
and steps, guidance, model, region, mask size), like the A1111 web UI's "PNG
Info" tab; ``--json`` for scripts. A damaged or hostile file gives one line on
stderr and exit status 1. Loads neither torch nor Qt.
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="PNG, JPEG, WebP or .glide project")
    parser.add_argument("--json", action="store_true", help="print JSON (one object per file, in a list)")


def run(args: argparse.Namespace) -> int:
    """Exit 0 when every file was described, 1 when one could not be."""
    from glide_studio.core.editing.file_info import FileInfoError, format_info, read_file_info

    described, failed = [], 0
    for name in args.files:
        try:
            info = read_file_info(name)
        except FileInfoError as exc:
            print(f"glide-studio: error: {_one_line(str(exc))}", file=sys.stderr)
            failed += 1
            continue
        if args.json:
            described.append(info.to_json())
        else:
            if described:
                print()
            print(format_info(info))
            described.append(None)
    if args.json and (described or not failed):
        print(json.dumps(described if len(args.files) > 1 else described[0], indent=1, ensure_ascii=True))
    return 1 if failed else 0


def _one_line(text: str) -> str:
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in " ".join(text.split()))
