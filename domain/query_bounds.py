"""What a query may name, read one way by the Python API, the CLI, the HTTP API and the console:
versions, positions and page sizes within what both stores hold (SQLite's INTEGER and
PostgreSQL's bigint are signed 64-bit: a larger number overflows in the driver), and instants.

An instant needs its time zone: a time without one names a different moment for each reader,
and an audit answer must not depend on whose clock guessed it (inputs are never coerced). It
must also stay a time once in UTC, the zone every stored time is in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BeforeValidator, Field

INT64_MAX = 2**63 - 1
MAX_PAGE = 1000
INSTANT_FORM = "ISO 8601 with a time zone, e.g. 2026-12-07T09:30:00Z or 2026-12-07T10:30:00+01:00"
INSTANT_RANGE = "0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z"

Version = Annotated[int, Field(ge=1, le=INT64_MAX)]  # of an event in its chat
Position = Annotated[int, Field(ge=0, le=INT64_MAX)]  # in the event log; 0: before the first
Limit = Annotated[int, Field(ge=1, le=MAX_PAGE)]  # items of one page


def instant(value: object) -> datetime:
    """The moment ISO 8601 text or an aware datetime names, in UTC; refused when it has no time
    zone or falls outside the years 1 to 9999 in UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not a time: {INSTANT_FORM}") from None
    if not isinstance(value, datetime):
        raise ValueError(f"not a time: {INSTANT_FORM}")
    if value.utcoffset() is None:
        raise ValueError(f"the time zone is missing: {INSTANT_FORM}")
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError(f"out of range: {INSTANT_RANGE}") from None


Instant = Annotated[datetime, BeforeValidator(instant)]
