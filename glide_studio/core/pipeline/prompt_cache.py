"""The encodings of a model's recent prompts, kept between runs.

A run encodes its prompt once (the text transformer and every attention
block's text keys and values: a noticeable part of a second on a CPU)
before its first step. Most runs repeat a prompt that was encoded before:
the empty prompt of classifier-free guidance every time, the same prompt
with a new seed, or a prompt the studio encoded while the user was still
typing (``Inpainter.prepare``). Each prompt is encoded alone, so a row's
numbers never depend on which other prompts share its batch or on what the
cache held: the same request gives the same pixels.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import Tensor

from ..model.glide import TextEncoding

__all__ = ["PromptCache"]

Key = tuple[tuple[int, ...], tuple[bool, ...]]


class PromptCache:
    """Least recently used encodings, keyed by token ids and mask (several MB a prompt
    for the released models, so only a few are kept)."""

    def __init__(self, *, capacity: int = 3) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._entries: OrderedDict[Key, TextEncoding] = OrderedDict()
        self._lock = threading.Lock()  # a served engine may run requests on several threads
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def encode(
        self, tokens: Tensor, mask: Tensor, encode: Callable[[Tensor, Tensor], TextEncoding]
    ) -> TextEncoding:
        """The encoding of every row of ``tokens`` (with ``mask``), each distinct row
        encoded alone by ``encode`` unless it is cached."""
        keys = [(tuple(t), tuple(m)) for t, m in zip(tokens.tolist(), mask.tolist(), strict=True)]
        found: dict[Key, TextEncoding] = {}
        for row, key in enumerate(keys):
            if key not in found:
                found[key] = self._get(key) or self._put(key, _encode_row(encode, tokens, mask, row))
        return TextEncoding.cat([found[key] for key in keys])

    def _get(self, key: Key) -> TextEncoding | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self.hits += 1
            return entry

    def _put(self, key: Key, entry: TextEncoding) -> TextEncoding:
        with self._lock:
            self.misses += 1
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _encode_row(
    encode: Callable[[Tensor, Tensor], TextEncoding], tokens: Tensor, mask: Tensor, row: int
) -> TextEncoding:
    with torch.inference_mode():
        return encode(tokens[row : row + 1], mask[row : row + 1])
