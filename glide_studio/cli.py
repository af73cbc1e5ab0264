"""Command line entry point: ``glide-studio [gui|inpaint|download|train] ...``.

Each subcommand lives in ``glide_studio.commands`` and is imported only when
used, so that ``glide-studio download`` never loads Qt and the window never
waits for the training code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]

COMMANDS = {
    "gui": "Open the desktop studio (the default).",
    "inpaint": "Edit an image: regenerate the masked region from a prompt.",
    "generate": "Make a picture from a prompt alone (text-to-image).",
    "outpaint": "Extend a picture on any side and fill the new area from a prompt.",
    "download": "Fetch the released GLIDE weights ahead of time.",
    "verify": "Re-hash the downloaded weights against their manifests.",
    "info": "Show what a picture or project holds: size, bit depth, profile and recorded edits.",
    "train": "Train a GLIDE-architecture inpainting model.",
    "serve": "Serve the models over HTTP on Ray Serve, for studios on other machines.",
}


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one line on stderr and exit status 2, no usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="glide-studio", description="Text-guided image editing with GLIDE.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"glide_studio.commands.{name}")
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # No command (perhaps a file to open, or window options): start the window.
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv = ["gui", *argv]
    args = build_parser().parse_args(argv)
    module = importlib.import_module(f"glide_studio.commands.{args.command}")
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
