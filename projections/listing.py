"""Listing from the read models, page by page: a user's chats (most recent activity first) and
a chat's messages (in order), with filters. Each page names where the next one starts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from chatledger.domain.input_types import Identifier, ModelName, StrictInput
from chatledger.domain.messages import ROLES, CommandResult
from chatledger.domain.query_bounds import Instant, Limit, Position
from chatledger.projections.quarantine import DamagedChat

Status = Literal["recorded", "streaming", "completed", "failed", "abandoned"]
Role = Literal[ROLES]  # type: ignore[valid-type]
# What people and models wrote: an auditor sees it only when it asks (as the audit export).
CONTENT_COLUMNS = ("content", "parts", "tool_calls", "refusal", "personal_metadata", "name")


@dataclass(frozen=True)
class MessageFilter:
    role: str | None = None
    model: str | None = None
    status: str | None = None
    since: str | None = None  # ISO time in UTC, inclusive
    until: str | None = None  # exclusive


class ChatListQuery(StrictInput):
    user_id: Identifier
    since: Instant | None = None
    until: Instant | None = None
    before_position: Annotated[Position, Field(ge=1)] | None = None
    limit: Limit = 100


class MessageListQuery(StrictInput):
    chat_id: Identifier
    user_id: Identifier
    role: Role | None = None
    model: ModelName | None = None
    status: Status | None = None
    since: Instant | None = None
    until: Instant | None = None
    after_position: Position = 0
    limit: Limit = 100
    with_content: bool = True


class ChatListResult(CommandResult):
    """Chats with their first and last event time, events and messages; `next_position` is
    the `before_position` of the next page (None at the end)."""

    chats: list[dict[str, Any]] = Field(default_factory=list)
    next_position: int | None = None
    damaged_chats: list[DamagedChat] = Field(default_factory=list)


class MessageListResult(CommandResult):
    """Rows of the messages table; `next_position` is the `after_position` of the next page."""

    messages: list[dict[str, Any]] = Field(default_factory=list)
    next_position: int | None = None
    damaged_chats: list[DamagedChat] = Field(default_factory=list)


def without_content(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in CONTENT_COLUMNS}
