"""Subcommands of ``glide-studio``: each exposes ``add_arguments(parser)`` and ``run(args) -> int``."""
