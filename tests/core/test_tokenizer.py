from __future__ import annotations

import gzip
import json
import shutil

import pytest

from glide_studio.core.text.tokenizer import (
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
def bpe(reference_dir) -> BPETokenizer:
    return BPETokenizer.from_folder(reference_dir / "tokenizer")


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


def test_plain_files_load_like_gzipped_ones(bpe, reference_dir, tmp_path):
    for name in ("encoder.json", "vocab.bpe"):
        with gzip.open(reference_dir / "tokenizer" / f"{name}.gz", "rb") as src:
            (tmp_path / name).write_bytes(src.read())
    plain = BPETokenizer.from_folder(tmp_path)
    text = "An oil painting of a red barn at sunset!"
    assert plain.encode(text) == bpe.encode(text)


def test_missing_or_broken_files_give_clear_errors(reference_dir, tmp_path):
    with pytest.raises(TokenizerError, match=r"encoder\.json.*not found"):
        BPETokenizer.from_folder(tmp_path)
    shutil.copy(reference_dir / "tokenizer" / "vocab.bpe.gz", tmp_path)
    (tmp_path / "encoder.json").write_text("{not json")
    with pytest.raises(TokenizerError, match="not valid JSON"):
        BPETokenizer.from_folder(tmp_path)


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
