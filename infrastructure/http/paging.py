"""Opaque cursors for the reads that page. A cursor holds the position the next page goes on
from and a digest of the query it came from: it is refused (422) with another query, and
nothing of either can be read from it by a client."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Annotated, Any

from fastapi import Query
from fastapi.exceptions import RequestValidationError

from chatledger.domain.query_bounds import INT64_MAX, MAX_PAGE, Limit

LimitQuery = Annotated[Limit, Query(description=f"Items per page, at most {MAX_PAGE}.")]
CursorQuery = Annotated[
    str | None,
    Query(max_length=200, description="`next` of the previous page; omit it for the first."),
]


def query_digest(query: dict[str, Any]) -> str:
    canonical = json.dumps(query, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def cursor_for(position: int | None, query: dict[str, Any]) -> str | None:
    """The next page's cursor; None at the end."""
    if position is None:
        return None
    text = f"{position}.{query_digest(query)}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def position_of(cursor: str | None, query: dict[str, Any]) -> int | None:
    """Where the page starts; None for the first page. A cursor not made for this query is a
    validation error naming the `cursor` parameter."""
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        position, digest = text.split(".")
        if digest == query_digest(query) and position.isdigit() and int(position) <= INT64_MAX:
            return int(position)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    problem = {
        "loc": ("query", "cursor"),
        "msg": "not a cursor of this query",
        "type": "value_error",
    }
    raise RequestValidationError([problem])
