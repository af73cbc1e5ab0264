"""The precision names users choose from, importable without torch (argument parsers)."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["PRECISIONS", "Precision"]

Precision = Literal["auto", "float32", "bfloat16", "float16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
"""``auto``: float16 on CUDA; on CPUs with native bf16, bfloat16 for the upsampler; float32 elsewhere."""
