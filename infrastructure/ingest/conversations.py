"""Conversations in the shape of ../shared/data (one JSON object per line), read or generated."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError


class Turn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: str
    content: str


class Conversation(BaseModel):
    model_config = ConfigDict(extra="ignore")
    conversation_id: str
    model: str | None = None
    source: str | None = None
    messages: list[Turn]


@dataclass(frozen=True)
class UnreadableLine:
    line_number: int
    problem: str


def read_conversations(path: Path) -> Iterator[Conversation | UnreadableLine]:
    """Yield each line's conversation, or what is wrong with the line (never its text)."""
    with path.open(encoding="utf-8", errors="surrogateescape") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield Conversation.model_validate(json.loads(line))
            except (json.JSONDecodeError, ValidationError) as error:
                yield UnreadableLine(number, type(error).__name__)


def count_lines(path: Path) -> int:
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
        turns: list[Turn] = []
        for _ in range(2):
            ask = f"{rng.choice(_ASKS)} {rng.choice(_TOPICS)}, please. 🙂"
            reply = " ".join(rng.choice(_TOPICS) for _ in range(rng.randint(5, 60)))
            turns += [Turn(role="user", content=ask), Turn(role="assistant", content=reply)]
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
