"""The tokenizer of the released noised CLIP models (CLIP's lower-cased BPE).

Unlike GPT-2's byte-level BPE it lower-cases and collapses whitespace first,
marks word ends with ``</w>``, and frames every prompt with start and end
tokens, padding with zeros. Its vocabulary ships gzipped inside the package
and is checked by hash, so a damaged file never tokenizes prompts silently
differently from the released models.
"""

from __future__ import annotations

import gzip
import hashlib
import html
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import regex

from .tokenizer import TokenizerError, _byte_alphabet, merge_symbols

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = ["CLIP_VOCAB_SHA256", "CLIPTokenizer", "ClipTokens"]

CLIP_VOCAB_FILE = "bpe_simple_vocab_16e6.txt.gz"
CLIP_VOCAB_SHA256 = "67603cfda2e032ad77b5f8808af37789d590db664b26df8705d2bf8b3c553fc8"
"""SHA-256 of the decompressed vocabulary file of the released code."""
_MERGE_COUNT = 49152 - 256 - 2
START, END = "<|startoftext|>", "<|endoftext|>"

_SPLIT = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)


@dataclass(frozen=True)
class ClipTokens:
    """One prompt framed and zero-padded to the context; ``length`` counts start and end."""

    tokens: tuple[int, ...]
    length: int
    truncated: bool


def _clean(text: str) -> str:
    """Undo HTML escapes (twice, as the released code does), collapse whitespace, lower-case."""
    text = html.unescape(html.unescape(text)).strip()
    return regex.sub(r"\s+", " ", text).strip().lower()


class CLIPTokenizer:
    """CLIP's BPE as the noised CLIP models read it."""

    def __init__(self, merges: list[tuple[str, str]]) -> None:
        alphabet = list(_byte_alphabet().values())
        vocab = alphabet + [v + "</w>" for v in alphabet] + ["".join(m) for m in merges] + [START, END]
        self._encoder = {token: i for i, token in enumerate(vocab)}
        self._ranks = {pair: rank for rank, pair in enumerate(merges)}
        self._alphabet = _byte_alphabet()
        self._cache: dict[str, tuple[str, ...]] = {START: (START,), END: (END,)}

    @classmethod
    def released(cls) -> CLIPTokenizer:
        """The vocabulary shipped inside the package."""
        return cls.from_file(resources.files("glide_studio.core.text") / "vocab" / CLIP_VOCAB_FILE)

    @classmethod
    def from_file(cls, path: Path | Traversable) -> CLIPTokenizer:
        """Load a gzipped merges file; it must be exactly the released one."""
        try:
            data = gzip.decompress(path.read_bytes())
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise TokenizerError(f"cannot read the CLIP vocabulary {path}: {exc}") from exc
        if hashlib.sha256(data).hexdigest() != CLIP_VOCAB_SHA256:
            raise TokenizerError(f"{path} is not the released CLIP vocabulary (its SHA-256 differs)")
        lines = data.decode("utf-8").split("\n")[1 : _MERGE_COUNT + 1]
        return cls([tuple(line.split()) for line in lines])  # type: ignore[misc]

    @property
    def n_vocab(self) -> int:
        return len(self._encoder)

    @property
    def start_token(self) -> int:
        return self._encoder[START]

    @property
    def end_token(self) -> int:
        return self._encoder[END]

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for piece in _SPLIT.findall(_clean(text)):
            mapped = "".join(self._alphabet[b] for b in piece.encode("utf-8"))
            ids.extend(self._encoder[symbol] for symbol in self._merge(mapped))
        return ids

    def padded(self, text: str, context: int) -> ClipTokens:
        """Start token, at most ``context - 2`` ids, end token, then zeros."""
        if context < 2:
            raise ValueError(f"the CLIP context must hold the start and end tokens, got {context}")
        ids = self.encode(text)
        framed = [self.start_token, *ids[: context - 2], self.end_token]
        return ClipTokens(
            tokens=tuple(framed) + (0,) * (context - len(framed)),
            length=len(framed),
            truncated=len(ids) > context - 2,
        )

    def _merge(self, word: str) -> tuple[str, ...]:
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        result = merge_symbols([*word[:-1], word[-1] + "</w>"], self._ranks)
        self._cache[word] = result
        return result
