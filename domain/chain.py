"""The hash chain: each event's hash is SHA-256 over a canonical encoding of the event and the
hash of the event before it, so a chat's stream can be recomputed and checked link by link."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS_HASH = "0" * 64


def _as_text(value: Any) -> str:
    """Datetimes, at any depth, as ISO text; anything else JSON cannot hold is a bug."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} has no canonical encoding")


def canonical_bytes(event_type: str, fields: dict[str, Any]) -> bytes:
    """Sorted keys, no whitespace, ASCII only: the same event gives the same bytes in any process
    and after a round trip through the event store (tuples become lists, datetimes ISO text).
    Keys are text: the commands reject anything else before an event exists."""
    document = {"event_type": event_type, **fields}
    text = json.dumps(
        document, sort_keys=True, separators=(",", ":"), allow_nan=False, default=_as_text
    )
    return text.encode("ascii")


def chain_hash(event_type: str, fields: dict[str, Any]) -> str:
    """The hash of an event; `fields` hold every field but `hash` (`prev_hash` included)."""
    return hashlib.sha256(canonical_bytes(event_type, fields)).hexdigest()


def recompute_hash(event: Any) -> str:
    fields = {k: v for k, v in vars(event).items() if k != "hash"}
    return chain_hash(type(event).__qualname__, fields)


@dataclass(frozen=True)
class BrokenLink:
    """The first place where a stored chain does not recompute."""

    chat_id: str
    version: int
    problem: str  # hash_mismatch | prev_hash_mismatch | version_gap | undecodable
    expected: str
    found: str


class ChainFollower:
    """Follows one chat's events in order and names the first link that does not hold."""

    def __init__(self, chat_id: str) -> None:
        self.chat_id = chat_id
        self.prev_hash = GENESIS_HASH
        self.expected_version = 1

    def check(self, event: Any) -> BrokenLink | None:
        version = event.originator_version
        if version != self.expected_version:
            return BrokenLink(
                self.chat_id, self.expected_version, "version_gap",
                str(self.expected_version), str(version),
            )  # fmt: skip
        if event.prev_hash != self.prev_hash:
            return BrokenLink(
                self.chat_id, version, "prev_hash_mismatch", self.prev_hash, event.prev_hash
            )
        recomputed = recompute_hash(event)
        if recomputed != event.hash:
            return BrokenLink(self.chat_id, version, "hash_mismatch", recomputed, event.hash)
        self.prev_hash, self.expected_version = event.hash, version + 1
        return None


def find_broken_link(chat_id: str, events: Iterable[Any]) -> BrokenLink | None:
    """Walk a chat's events in order and report the first link that does not hold."""
    follower = ChainFollower(chat_id)
    for event in events:
        broken = follower.check(event)
        if broken:
            return broken
    return None
