"""Replay: a chat as it was at a version or a time, rebuilt from its events alone, with the
timeline of what each event changed. For debugging and for answering "what did we know then"."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from chatledger.domain.application import ChatApplication
from chatledger.domain.chain import find_broken_link
from chatledger.domain.chat import Chat, ChatEvent
from chatledger.domain.ports import ContentProtector
from chatledger.domain.sealed_fields import opened_content, opened_title
from chatledger.domain.sealed_message import Opener
from chatledger.domain.unreadable_events import UnreadableEvent, readable_events
from chatledger.projections.changes import MessageChange, message_change
from chatledger.projections.quarantine import DamagedChat
from chatledger.projections.rows import MessageClosed, MessageRow, as_json


class TimelineEntry(BaseModel):
    version: int
    recorded_at: str
    event_type: str
    message_id: str | None
    changed: str  # what the event did, in words


class ChatAsOf(BaseModel):
    chat_id: str
    owner_id: str
    title: str | None
    model: str | None
    version: int
    as_of: str  # the time of the last event replayed
    messages: list[dict[str, Any]]
    open_streams: list[str]
    chain_intact: bool
    timeline: list[TimelineEntry] = Field(default_factory=list)
    # The chat has an event that cannot be read: the replay stops before it.
    damaged: DamagedChat | None = None


def events_before_damage(
    application: ChatApplication, chat_id: str, to_version: int | None
) -> tuple[list[ChatEvent], UnreadableEvent | None]:
    """The chat's events up to a version, or up to the first that cannot be read (named)."""
    events: list[ChatEvent] = []
    for event in readable_events(application, chat_id, lte=to_version):
        if isinstance(event, UnreadableEvent):
            return events, event
        if isinstance(event, ChatEvent):
            events.append(event)
    return events, None


def replay_events(
    events: list[ChatEvent],
    to_version: int | None,
    at: datetime | None,
    protector: ContentProtector,
) -> ChatAsOf | None:
    """Fold the events up to a version and/or a time; None when no event is that early."""
    chosen = [e for e in events if (to_version is None or e.originator_version <= to_version)
              and (at is None or e.timestamp <= at)]  # fmt: skip
    if not chosen or not isinstance(chosen[0], Chat.Started):
        return None
    started = chosen[0]
    rows: dict[str, MessageRow] = {}
    parts: dict[str, str] = {}  # whole, inline data too: the table lists them without
    timeline = [entry(started, "chat started")]
    for event in chosen[1:]:
        change = message_change(event, 0, protector)
        if isinstance(change, MessageRow):
            rows[change.message_id] = change
            if change.parts is not None and isinstance(event, Chat.MessageEvent):
                parts[change.message_id] = whole_parts(event, protector)
        elif isinstance(change, MessageClosed):
            rows[change.message_id] = rows[change.message_id]._replace(**change._asdict())
        timeline.append(entry(event, describe(change)))
    last = chosen[-1]
    return ChatAsOf(
        chat_id=started.originator_id,
        owner_id=started.owner_id,
        title=opened_title(started, protector),
        model=started.model,
        version=last.originator_version,
        as_of=last.timestamp.isoformat(),
        messages=[
            {**_without_position(row), **({"parts": parts[m]} if m in parts else {})}
            for m, row in rows.items()
        ],
        open_streams=[m for m, row in rows.items() if row.status == "streaming"],
        chain_intact=find_broken_link(started.originator_id, chosen) is None,
        timeline=timeline,
    )


def whole_parts(event: Chat.MessageEvent, protector: ContentProtector) -> str:
    """The message's parts as sent, as JSON: text, inline data, URLs and file names opened."""
    return as_json(Opener(event, protector).parts(opened_content(event, protector)))


def _without_position(row: MessageRow) -> dict[str, Any]:
    # Positions in the whole log are not the chat's business; versions and hashes are.
    return {k: v for k, v in row._asdict().items() if k != "position"}


def entry(event: ChatEvent, changed: str) -> TimelineEntry:
    return TimelineEntry(
        version=event.originator_version,
        recorded_at=event.timestamp.isoformat(),
        event_type=type(event).__name__,
        message_id=getattr(event, "message_id", None),
        changed=changed,
    )


def describe(change: MessageChange) -> str:
    if isinstance(change, MessageRow):
        if change.kind == "stream":
            return f"assistant stream {change.message_id} opened (model {change.model})"
        tokens = f"{change.token_count} tokens, {change.token_encoding}"
        error = f", error {change.error_code}" if change.error_code else ""
        listed = json.loads(change.tool_calls) if change.tool_calls else []
        calls = f", {len(listed)} tool calls" if isinstance(listed, list) and listed else ""
        return f"{change.role} message {change.message_id} recorded ({tokens}{calls}{error})"
    if isinstance(change, MessageClosed):
        chunks = f"{change.chunk_count} chunks"
        error = f", error {change.error_code}" if change.error_code else ""
        return f"stream {change.message_id} {change.status} ({chunks}{error})"
    return "no message changed"
