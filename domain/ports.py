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
