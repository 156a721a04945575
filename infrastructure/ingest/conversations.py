"""Conversations, one JSON object per line (formats.py says which shapes), read once from a
file, a pipe or standard input; or generated where ../shared/data is absent."""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import BaseModel, ConfigDict, ValidationError

from chatledger.infrastructure.ingest.formats import conversation_fields, detect


class Conversation(BaseModel):
    model_config = ConfigDict(extra="ignore")
    conversation_id: str
    model: str | None = None
    source: str | None = None
    # As the line has them: each is validated, recorded or refused on its own by the pipeline.
    messages: list[Any]
    line: int = 0


@dataclass(frozen=True)
class UnreadableLine:
    line_number: int
    problem: str


STDIN = Path("-")


def read_conversations(
    path: Path, format_name: str = "auto"
) -> Iterator[Conversation | UnreadableLine]:
    """Yield each line's conversation, or what is wrong with the line (never its text). The
    input is read once, as it comes: `-` is standard input, and a pipe or FIFO works too."""
    with opened(path) as lines:
        chosen = None if format_name == "auto" else format_name
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                document = json.loads(raw)
                chosen = chosen or detect(document)
                fields = conversation_fields(document, raw, chosen)
                yield Conversation.model_validate({**fields, "line": number})
            except (ValueError, ValidationError) as error:  # JSON, UTF-8 or shape
                yield UnreadableLine(number, type(error).__name__)


@contextmanager
def opened(path: Path) -> Iterator[BinaryIO]:
    if path == STDIN:
        yield sys.stdin.buffer
        return
    with path.open("rb") as lines:
        yield lines


def count_lines(path: Path) -> int | None:
    """The lines of a regular file, for a progress bar's total; None for what can be read only
    once (standard input, a pipe, a FIFO): those are not read ahead."""
    if path == STDIN or not path.is_file():
        return None
    with path.open("rb") as raw:
        return sum(1 for line in raw if line.strip())


_TOPICS = ["a travel blog post", "a Python function", "the French revolution", "a budget",
           "photosynthesis", "a haiku about rain", "SQL joins", "a job interview"]  # fmt: skip
_ASKS = ["Write", "Explain", "Summarize", "Compare", "Translate into French", "Debug"]


def generate_conversations(count: int, seed: int = 7) -> list[Conversation]:
    """Stand-ins of the same shape for when the real data set is absent."""
    rng = random.Random(seed)
    conversations = []
    for index in range(count):
        model = rng.choice(["gpt-4", "gpt-3.5-turbo", "gpt-4o", "vicuna-13b-v1.3"])
        turns: list[dict[str, Any]] = []
        for _ in range(2):
            ask = f"{rng.choice(_ASKS)} {rng.choice(_TOPICS)}, please. 🙂"
            reply = " ".join(rng.choice(_TOPICS) for _ in range(rng.randint(5, 60)))
            turns += [{"role": "user", "content": ask}, {"role": "assistant", "content": reply}]
        conversations.append(
            Conversation(conversation_id=f"generated:{index}:{model}", model=model, messages=turns)
        )
    return conversations


def default_data_file() -> Path | None:
    """The shared real conversations, when this checkout sits beside them (this file is
    infrastructure/ingest/ of the checkout; an installed wheel finds none)."""
    checkout = Path(__file__).resolve().parents[2]
    candidate = checkout.parent / "shared" / "data" / "mt_bench_conversations.jsonl"
    return candidate if candidate.is_file() else None
