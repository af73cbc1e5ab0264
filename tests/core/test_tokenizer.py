from __future__ import annotations

import gzip
import hashlib
import json

import pytest

from glide_studio.core.text.tokenizer import (
    SHIPPED_VOCAB,
    VOCAB_SHA256,
    BPETokenizer,
    ByteTokenizer,
    TokenizerError,
    load_tokenizer,
    pad_tokens,
)


@pytest.fixture(scope="module")
def reference_tokens(reference_dir):
    return json.loads((reference_dir / "schedules_and_tokens.json").read_text())["tokenizer"]


@pytest.fixture(scope="module")
def bpe() -> BPETokenizer:
    """The vocabulary shipped inside the package: no reference data or download needed."""
    return BPETokenizer.released()


def test_vocabulary_size_and_end_token(bpe, reference_tokens):
    assert bpe.n_vocab == reference_tokens["n_vocab"] == 50257
    assert bpe.end_token == reference_tokens["end_token"] == 50256


def test_every_reference_case_gives_exact_ids_and_padding(bpe, reference_tokens):
    assert len(reference_tokens["cases"]) >= 6
    for text, case in reference_tokens["cases"].items():
        assert bpe.encode(text) == case["ids"], text
        padded = bpe.padded(text, 128)
        assert list(padded.tokens) == case["padded"][0], text
        assert list(padded.mask) == case["padded"][1], text
        assert padded.length == len(case["ids"])
        assert not padded.truncated


def test_empty_prompt_is_all_padding(bpe):
    padded = bpe.padded("", 16)
    assert padded.tokens == (50256,) * 16
    assert padded.mask == (False,) * 16


def test_long_prompt_is_truncated_and_says_so(bpe):
    text = "a corgi in a field " * 40
    ids = bpe.encode(text)
    assert len(ids) > 128
    padded = bpe.padded(text, 128)
    assert padded.truncated
    assert list(padded.tokens) == ids[:128]
    assert all(padded.mask)


def shipped(name: str) -> bytes:
    return gzip.decompress((SHIPPED_VOCAB / f"{name}.gz").read_bytes())


def test_shipped_vocabulary_is_the_released_one():
    for name, digest in VOCAB_SHA256.items():
        assert hashlib.sha256(shipped(name)).hexdigest() == digest
    assert VOCAB_SHA256 == {
        "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
        "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
    }


def test_known_prompt_without_reference_data(bpe):
    assert bpe.encode("a corgi wearing a red scarf") == [64, 1162, 12397, 5762, 257, 2266, 36953]
    assert bpe.n_vocab == 50257 and bpe.end_token == 50256
    assert load_tokenizer("bpe").encode("A Red Barn") == bpe.encode("a red barn")


def test_plain_files_load_like_gzipped_ones(bpe, tmp_path):
    for name in ("encoder.json", "vocab.bpe"):
        (tmp_path / name).write_bytes(shipped(name))
    plain = BPETokenizer.from_folder(tmp_path)
    text = "An oil painting of a red barn at sunset!"
    assert plain.encode(text) == bpe.encode(text)


@pytest.mark.parametrize(
    "damage",
    [
        lambda merges: b"\n".join(merges.split(b"\n")[:1000]) + b"\n",  # a 1,000-line merges file
        lambda merges: merges[: len(merges) // 2],  # half a file
        lambda merges: merges.replace(b"\nh e\n", b"\n"),  # one merge missing
    ],
)
def test_truncated_or_edited_vocabulary_is_refused(tmp_path, damage):
    """Such files parse, and would tokenize prompts differently: the hash refuses them by name."""
    (tmp_path / "encoder.json").write_bytes(shipped("encoder.json"))
    (tmp_path / "vocab.bpe").write_bytes(damage(shipped("vocab.bpe")))
    with pytest.raises(TokenizerError, match=r"vocab\.bpe is not the released GLIDE vocabulary"):
        BPETokenizer.from_folder(tmp_path)
    assert BPETokenizer.from_folder(tmp_path, check_hash=False).n_vocab == 50257  # it would have loaded


def test_missing_or_broken_files_give_clear_errors(tmp_path):
    with pytest.raises(TokenizerError, match=r"encoder\.json.*not found"):
        BPETokenizer.from_folder(tmp_path)
    (tmp_path / "vocab.bpe").write_bytes(shipped("vocab.bpe"))
    (tmp_path / "encoder.json").write_text("{not json")
    with pytest.raises(TokenizerError, match="not the released GLIDE vocabulary"):
        BPETokenizer.from_folder(tmp_path)
    with pytest.raises(TokenizerError, match="not valid JSON"):
        BPETokenizer.from_folder(tmp_path, check_hash=False)


def test_byte_tokenizer_needs_no_files():
    tok = load_tokenizer("bytes")
    assert isinstance(tok, ByteTokenizer)
    assert tok.encode("Red é") == [114, 101, 100, 32, 195, 169]
    padded = tok.padded("ab", 4)
    assert padded.tokens == (97, 98, 256, 256)
    assert padded.mask == (True, True, False, False)


def test_pad_tokens_rejects_bad_context():
    with pytest.raises(ValueError):
        pad_tokens([1], 0, 5)


def test_unknown_tokenizer_kind():
    with pytest.raises(TokenizerError, match="unknown tokenizer"):
        load_tokenizer("sentencepiece")
