"""Tests for the tiktoken counter: counts must equal what tiktoken's own loading path produces."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import tiktoken

from chatledger.infrastructure.tokenizer import tiktoken_counter as tokens
from chatledger.infrastructure.tokenizer.tiktoken_counter import (
    SHIPPED_ENCODINGS,
    RankFileHashError,
    TiktokenCounter,
    read_rank_file,
    verify_sha256,
)

SAMPLES: list[str] = [
    "",
    "Hello, world! This is a plain ASCII sentence.",
    'def f(x: int) -> dict[str, int]:\n    return {"a": x ** 2}  # comment\n',
    "emoji 😀👍🏽 family 👨‍👩‍👧‍👦 flags 🇩🇪🇯🇵",
    "中文分词测试\uff0c日本語のテキスト、한국어 텍스트",
    "   leading\t\ttabs   \n\n\n  trailing   ",
    "\r\n\r\n  \n \u3000\u00a0x",
    "user typed <|endoftext|> and <|endofprompt|> and <|fim_prefix|>",
    "nul\x00inside\x00\x00text",
    "I'm sure they'll've DON'T 12345678 3.14159 //path/to\r\n",
    "lone surrogate \ud800 here",
]

# tiktoken caches a downloaded file under sha1(url) in TIKTOKEN_CACHE_DIR; URLs are the ones in
# tiktoken_ext/openai_public.py.
_BLOB_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"

# Runs tiktoken's own get_encoding with network disabled, so the cached official file must be used.
_REFERENCE_SCRIPT = """
import json, sys
import tiktoken, tiktoken.load

def no_network(blobpath):
    raise RuntimeError(f"tiktoken tried to download {blobpath}")

tiktoken.load.read_file = no_network
enc = tiktoken.get_encoding(sys.argv[1])
texts = json.load(sys.stdin)
json.dump(
    {
        "tokens": [enc.encode_ordinary(t) for t in texts],
        "pat_str": enc._pat_str,
        "special_tokens": enc._special_tokens,
        "n_vocab": enc.n_vocab,
    },
    sys.stdout,
)
"""

_MODEL_FOR = {"o200k_base": "gpt-4o", "cl100k_base": "gpt-4"}
_ENCODING_FOR = {model: name for name, model in _MODEL_FOR.items()}


@pytest.fixture(scope="module")
def counter() -> TiktokenCounter:
    return TiktokenCounter()


@pytest.mark.parametrize("name", sorted(SHIPPED_ENCODINGS))
def test_matches_tiktokens_own_loading_path(
    name: str, counter: TiktokenCounter, tmp_path: Path
) -> None:
    cache_key = hashlib.sha1(_BLOB_URL.format(name=name).encode()).hexdigest()
    (tmp_path / cache_key).write_bytes(read_rank_file(name))
    proc = subprocess.run(
        [sys.executable, "-c", _REFERENCE_SCRIPT, name],
        input=json.dumps(SAMPLES),
        capture_output=True,
        text=True,
        env={**os.environ, "TIKTOKEN_CACHE_DIR": str(tmp_path)},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    reference = json.loads(proc.stdout)

    enc = counter.encoding(name)
    assert enc._pat_str == reference["pat_str"]
    assert enc._special_tokens == reference["special_tokens"]
    assert enc.n_vocab == reference["n_vocab"]
    assert [enc.encode_ordinary(t) for t in SAMPLES] == reference["tokens"]
    counts = [counter.count(t, _MODEL_FOR[name]) for t in SAMPLES]
    assert [c.count for c in counts] == [len(t) for t in reference["tokens"]]
    assert {(c.encoding, c.exact_model) for c in counts} == {(name, True)}


@pytest.mark.parametrize(
    ("model", "encoding", "exact"),
    [
        ("gpt-4o", "o200k_base", True),
        ("gpt-4o-2024-05-13", "o200k_base", True),
        ("gpt-4", "cl100k_base", True),
        ("gpt-3.5-turbo", "cl100k_base", True),
        ("alpaca-13b", "o200k_base", False),
        (None, "o200k_base", False),
        ("", "o200k_base", False),
        ("text-davinci-003", "o200k_base", False),  # p50k_base: not shipped
    ],
)
def test_model_to_encoding(
    counter: TiktokenCounter, model: str | None, encoding: str, exact: bool
) -> None:
    result = counter.count("hello world", model)
    assert (result.encoding, result.exact_model) == (encoding, exact)
    assert result.count == 2


def test_default_encoding_is_configurable(counter: TiktokenCounter) -> None:
    other = TiktokenCounter(default_encoding="cl100k_base")
    other._encodings["cl100k_base"] = counter.encoding("cl100k_base")  # skip a reload
    result = other.count("hello", "alpaca-13b")
    assert (result.encoding, result.exact_model) == ("cl100k_base", False)
    with pytest.raises(ValueError, match="default_encoding"):
        TiktokenCounter(default_encoding="p50k_base")


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4"])
def test_empty_text_is_zero_tokens(counter: TiktokenCounter, model: str) -> None:
    assert counter.count("", model).count == 0


@pytest.mark.parametrize("marker", ["<|endoftext|>", "<|endofprompt|>", "<|fim_middle|>"])
@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4"])
def test_special_token_markers_are_ordinary_text(
    counter: TiktokenCounter, model: str, marker: str
) -> None:
    assert counter.count(marker, model).count > 1  # a special token would be exactly 1


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4"])
def test_one_megabyte_text(counter: TiktokenCounter, model: str) -> None:
    text = ("Mixed text: wörds, 数字 12345, emoji 😀\n" * 40_000)[:1_000_000]
    enc = counter.encoding(_ENCODING_FOR[model])
    assert counter.count(text, model).count == len(enc.encode_ordinary(text))


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4"])
def test_huge_whitespace_run_does_not_crash_tiktoken(counter: TiktokenCounter, model: str) -> None:
    # A ~1M-char whitespace run makes tiktoken's Rust regex panic; the counter must not.
    assert counter.count(" " * 1_000_000 + "x", model).count > 0
    # The fallback path gives exactly tiktoken's tokens where tiktoken itself still works.
    text = "a\ud800 " + " \t" * 60_000 + "\u3000" * 10_000 + "b\n"
    enc = counter.encoding(_ENCODING_FOR[model])
    assert counter.count(text, model).count == len(enc.encode_ordinary(text))


def test_encodings_load_lazily_once_across_threads(
    counter: TiktokenCounter, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded: list[str] = []
    real = counter.encoding("o200k_base")  # loaded before the patch: the fake must not recurse

    def fake_build(name: str) -> tiktoken.Encoding:
        loaded.append(name)
        time.sleep(0.05)  # widen the race window
        return real

    monkeypatch.setattr(tokens, "build_encoding", fake_build)
    fresh = TiktokenCounter()
    assert loaded == []
    barrier = threading.Barrier(8)

    def count_once(_: int) -> int:
        barrier.wait()
        return fresh.count("hello world", "gpt-4o").count

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(count_once, range(8))) == [2] * 8
    assert loaded == ["o200k_base"]


def test_hash_mismatch_is_a_clear_error() -> None:
    expected = hashlib.sha256(b"official").hexdigest()
    verify_sha256(b"official", expected, "official.tiktoken")
    with pytest.raises(RankFileHashError, match=r"SHA-256 mismatch for bad\.tiktoken"):
        verify_sha256(b"tampered", expected, "bad.tiktoken")


def test_rank_files_are_the_official_ones() -> None:
    expected = {
        "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    }
    for name, sha in expected.items():
        assert hashlib.sha256(read_rank_file(name)).hexdigest() == sha
