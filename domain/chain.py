"""The hash chain: each event's hash is SHA-256 over a canonical encoding of the event and the
hash of the event before it, so a chat's stream can be recomputed and checked link by link."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

GENESIS_HASH = "0" * 64


def _canonical_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _canonical_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical_value(v) for v in value]
    return value


def canonical_bytes(event_type: str, fields: dict[str, Any]) -> bytes:
    """Sorted keys, no whitespace, ASCII only: the same event gives the same bytes in any process
    and after a round trip through the event store (tuples become lists, datetimes ISO text)."""
    document = {"event_type": event_type, **_canonical_value(fields)}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return text.encode("ascii")


def chain_hash(event_type: str, fields: dict[str, Any]) -> str:
    """The hash of an event; `fields` hold every field but `hash` (`prev_hash` included)."""
    return hashlib.sha256(canonical_bytes(event_type, fields)).hexdigest()


def recompute_hash(event: Any) -> str:
    fields = {k: v for k, v in vars(event).items() if k != "hash"}
    return chain_hash(type(event).__qualname__, fields)
