"""Tokenizers that turn a prompt into the fixed-length token rows the models read.

The released GLIDE models were trained with GPT-2's byte-level BPE, lower-cased
prompts and end-token padding; its vocabulary ships with the package (``vocab/``)
and is checked by hash when loaded. The demo model uses plain UTF-8 bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import regex

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = [
    "BPETokenizer",
    "ByteTokenizer",
    "PaddedTokens",
    "Tokenizer",
    "TokenizerError",
    "load_tokenizer",
    "pad_tokens",
]

ENCODER_FILE = "encoder.json"
MERGES_FILE = "vocab.bpe"
SHIPPED_VOCAB: Traversable = resources.files("glide_studio.core.text") / "vocab"
"""The released GLIDE vocabulary (GPT-2's BPE, MIT licence), gzipped inside the package."""
VOCAB_SHA256 = {
    ENCODER_FILE: "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    MERGES_FILE: "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
}
"""SHA-256 of the decompressed released files."""

# GPT-2's pre-tokenisation: contractions, letter runs, digit runs, other
# symbol runs, and whitespace (a trailing space stays with the next word).
_SPLIT_PATTERN = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)


def merge_symbols(symbols: list[str], ranks: Mapping[tuple[str, str], int]) -> tuple[str, ...]:
    """Byte-pair merging: join the adjacent pair of lowest rank until no ranked pair is left."""
    while len(symbols) > 1:
        best = min(itertools.pairwise(symbols), key=lambda p: ranks.get(p, float("inf")))
        if best not in ranks:
            break
        merged: list[str] = []
        i = 0
        while i < len(symbols):
            if i < len(symbols) - 1 and (symbols[i], symbols[i + 1]) == best:
                merged.append(symbols[i] + symbols[i + 1])
                i += 2
            else:
                merged.append(symbols[i])
                i += 1
        symbols = merged
    return tuple(symbols)


class TokenizerError(ValueError):
    """A tokenizer's files are missing or unreadable."""


@dataclass(frozen=True)
class PaddedTokens:
    """One prompt as a model row: ids padded with the end token, and which are real."""

    tokens: tuple[int, ...]
    mask: tuple[bool, ...]
    truncated: bool
    """True when the prompt had more tokens than the context and lost its tail."""

    @property
    def length(self) -> int:
        return sum(self.mask)


class Tokenizer(Protocol):
    @property
    def n_vocab(self) -> int: ...

    @property
    def end_token(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def padded(self, text: str, text_ctx: int) -> PaddedTokens: ...


def pad_tokens(ids: list[int], text_ctx: int, end_token: int) -> PaddedTokens:
    """Cut to ``text_ctx`` and fill the rest with the end token (mask False)."""
    if text_ctx <= 0:
        raise ValueError(f"text_ctx must be positive, got {text_ctx}")
    kept = ids[:text_ctx]
    padding = text_ctx - len(kept)
    return PaddedTokens(
        tokens=tuple(kept) + (end_token,) * padding,
        mask=(True,) * len(kept) + (False,) * padding,
        truncated=len(ids) > text_ctx,
    )


def _byte_alphabet() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters.

    Printable Latin-1 bytes stand for themselves; the others are shifted past
    255 so that no byte maps to whitespace or a control character.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    table = {b: chr(b) for b in printable}
    shift = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + shift)
            shift += 1
    return table


def _read_text(path: Path | Traversable, *, sha256: str | None = None) -> str:
    """Read a file that may be stored gzipped (``name.gz``) or plain; check its hash when given.

    The hash is of the decompressed text, so a truncated or edited vocabulary
    (which would silently tokenize prompts differently) is refused by name.
    """
    try:
        data = path.read_bytes()
        if path.name.endswith(".gz"):
            data = gzip.decompress(data)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise TokenizerError(f"cannot read tokenizer file {path}: {exc}") from exc
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise TokenizerError(
            f"{path} is not the released GLIDE vocabulary (its SHA-256 differs): "
            "the file is truncated, edited or another tokenizer's"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TokenizerError(f"cannot read tokenizer file {path}: {exc}") from exc


def _find(folder: Path | Traversable, name: str) -> Path | Traversable:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise TokenizerError(f"tokenizer file {name} (or {name}.gz) not found in {folder}")


class BPETokenizer:
    """The byte-level BPE of the released GLIDE models (GPT-2's vocabulary)."""

    def __init__(self, encoder: dict[str, int], merges: list[tuple[str, str]]) -> None:
        if not encoder:
            raise TokenizerError("the BPE vocabulary is empty")
        self._encoder = encoder
        self._ranks = {pair: rank for rank, pair in enumerate(merges)}
        self._alphabet = _byte_alphabet()
        self._word_cache: dict[str, tuple[str, ...]] = {}

    @classmethod
    def released(cls) -> BPETokenizer:
        """The released models' vocabulary, shipped inside the package and checked by hash."""
        return cls.from_folder(SHIPPED_VOCAB)

    @classmethod
    def from_folder(cls, folder: str | Path | Traversable, *, check_hash: bool = True) -> BPETokenizer:
        """Load ``encoder.json`` and ``vocab.bpe`` (each plain or ``.gz``) from a folder.

        With ``check_hash`` (the default) the files must be exactly the released
        GLIDE vocabulary; turn it off only to load some other BPE vocabulary.
        """
        if isinstance(folder, str):
            folder = Path(folder)
        encoder_path = _find(folder, ENCODER_FILE)
        merges_path = _find(folder, MERGES_FILE)
        hashes = VOCAB_SHA256 if check_hash else {}
        try:
            encoder = json.loads(_read_text(encoder_path, sha256=hashes.get(ENCODER_FILE)))
        except json.JSONDecodeError as exc:
            raise TokenizerError(f"{encoder_path} is not valid JSON: {exc}") from exc
        if not isinstance(encoder, dict):
            raise TokenizerError(f"{encoder_path} does not hold a token table")
        merges = []
        for line in _read_text(merges_path, sha256=hashes.get(MERGES_FILE)).splitlines():
            if not line or line.startswith("#version"):
                continue
            parts = line.split()
            if len(parts) != 2:
                raise TokenizerError(f"{merges_path} has a malformed merge line: {line!r}")
            merges.append((parts[0], parts[1]))
        return cls(encoder, merges)

    @property
    def n_vocab(self) -> int:
        return len(self._encoder)

    @property
    def end_token(self) -> int:
        return self.n_vocab - 1

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for piece in _SPLIT_PATTERN.findall(text.lower()):
            mapped = "".join(self._alphabet[b] for b in piece.encode("utf-8"))
            ids.extend(self._encoder[sym] for sym in self._merge(mapped))
        return ids

    def padded(self, text: str, text_ctx: int) -> PaddedTokens:
        return pad_tokens(self.encode(text), text_ctx, self.end_token)

    def _merge(self, word: str) -> tuple[str, ...]:
        """Apply merges lowest rank first until none applies."""
        cached = self._word_cache.get(word)
        if cached is not None:
            return cached
        result = merge_symbols(list(word), self._ranks)
        if len(self._word_cache) < 100_000:
            self._word_cache[word] = result
        return result


class ByteTokenizer:
    """UTF-8 bytes as tokens, plus one end token: needs no vocabulary file.

    Lower-cases like the BPE tokenizer so that "Red" and "red" mean the same.
    """

    @property
    def n_vocab(self) -> int:
        return 257

    @property
    def end_token(self) -> int:
        return 256

    def encode(self, text: str) -> list[int]:
        return list(text.lower().encode("utf-8"))

    def padded(self, text: str, text_ctx: int) -> PaddedTokens:
        return pad_tokens(self.encode(text), text_ctx, self.end_token)


def load_tokenizer(kind: str, folder: str | Path | None = None) -> Tokenizer:
    """Build the tokenizer a model's manifest names: ``"bpe"`` or ``"bytes"``.

    ``"bpe"`` is the released vocabulary shipped with the package unless
    ``folder`` names another copy (which must hash the same).
    """
    if kind == "bytes":
        return ByteTokenizer()
    if kind == "bpe":
        return BPETokenizer.released() if folder is None else BPETokenizer.from_folder(folder)
    raise TokenizerError(f"unknown tokenizer kind {kind!r} (expected 'bpe' or 'bytes')")
