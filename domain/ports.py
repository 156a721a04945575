"""What the domain needs from the outside world, as Protocols the infrastructure implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class TokenCount:
    """A token count and the tokenizer encoding that produced it.

    `exact_model` is False when the model was unknown to the tokenizer and a default
    encoding was used instead, so readers know the count is an estimate.
    """

    count: int
    encoding: str
    exact_model: bool = True


class TokenCounter(Protocol):
    def count(self, text: str, model: str | None) -> TokenCount:
        """Count the tokens of `text` as plain text (special-token markers are ordinary text)
        with the encoding of `model`."""
        ...


@dataclass(frozen=True)
class DetectedIntent:
    name: str
    confidence: float
    keywords: tuple[str, ...]


class IntentDetector(Protocol):
    def detect(self, text: str) -> DetectedIntent: ...


@dataclass(frozen=True)
class CommandReport:
    """What the pipeline reports about each command: ids, outcome and timing, never content."""

    command: str
    outcome: str  # recorded | duplicate | answered (queries) | rejected | failed
    chat_id: str | None
    user_id: str | None
    message_id: str | None
    error_code: str | None
    processing_ms: float
    attempts: int
    version: int | None = None
    token_count: int | None = None
    exception_type: str | None = None
    store_ms: float | None = None  # of processing_ms, the time spent saving events


class CommandObserver(Protocol):
    def command_finished(self, report: CommandReport) -> None: ...


class NullObserver:
    def command_finished(self, report: CommandReport) -> None:
        """Reports go nowhere: for embedded use without logging."""
