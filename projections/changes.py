"""What each chat event changes in the read models, as pure functions of the event.

Every read model is a function of the event log alone: these functions are used by the
incremental projections, by rebuilds, and by the tests' direct computation from the events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from domain.chat import Chat, ChatEvent

# PostgreSQL text cannot hold NUL; the event store keeps the exact content, read models show
# the visible symbol for NUL (U+2400) on both backends so that they stay identical.
NUL_SYMBOL = "\u2400"


def readable(text: str | None) -> str | None:
    return None if text is None else text.replace("\x00", NUL_SYMBOL)


def as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class MessageRow:
    """One message as the analysts' `messages` table shows it."""

    chat_id: str
    message_id: str
    user_id: str
    role: str
    kind: str  # message | stream
    status: str  # recorded | streaming | completed | failed | abandoned
    content: str | None
    token_count: int | None
    token_encoding: str | None
    provider_input_tokens: int | None
    provider_output_tokens: int | None
    usage_source: str | None
    intent_name: str | None
    intent_confidence: float | None
    intent_keywords: str | None
    context_items: str
    model: str | None
    temperature: float | None
    processing_ms: float | None
    generation_ms: float | None
    first_chunk_ms: float | None
    duration_ms: float | None
    chunk_count: int | None
    error_code: str | None
    error_message: str | None
    metadata: str
    created_at: str
    updated_at: str
    position: int
    version: int
    event_hash: str


@dataclass(frozen=True)
class MessageClosed:
    """A stream's completion or failure: the fields its row gains."""

    chat_id: str
    message_id: str
    status: str
    content: str
    token_count: int | None
    token_encoding: str | None
    provider_input_tokens: int | None
    provider_output_tokens: int | None
    usage_source: str | None
    processing_ms: float | None
    first_chunk_ms: float | None
    duration_ms: float | None
    chunk_count: int
    error_code: str | None
    error_message: str | None
    metadata: str
    updated_at: str
    position: int
    version: int
    event_hash: str


@dataclass(frozen=True)
class AuditEntry:
    position: int
    recorded_at: str
    chat_id: str
    user_id: str
    event_type: str
    message_id: str | None
    version: int
    event_hash: str


def event_type(event: ChatEvent) -> str:
    return type(event).__name__


def user_of(event: ChatEvent) -> str:
    if isinstance(event, Chat.Started):
        return event.owner_id
    user_id: str = vars(event)["user_id"]  # every message event names its user
    return user_id


def audit_entry(event: ChatEvent, position: int) -> AuditEntry:
    return AuditEntry(
        position=position,
        recorded_at=event.timestamp.isoformat(),
        chat_id=event.originator_id,
        user_id=user_of(event),
        event_type=event_type(event),
        message_id=getattr(event, "message_id", None),
        version=event.originator_version,
        event_hash=event.hash,
    )


def _usage(usage: dict[str, Any] | None) -> dict[str, Any]:
    usage = usage or {}
    return {
        "provider_input_tokens": usage.get("input_tokens"),
        "provider_output_tokens": usage.get("output_tokens"),
        "usage_source": usage.get("source"),
    }


def _intent(intent: dict[str, Any] | None) -> dict[str, Any]:
    if not intent:
        return {"intent_name": None, "intent_confidence": None, "intent_keywords": None}
    return {
        "intent_name": intent["name"],
        "intent_confidence": intent["confidence"],
        "intent_keywords": as_json(intent["keywords"]),
    }


def new_message_row(event: ChatEvent, position: int) -> MessageRow:
    """The row of a message recorded in one event, or of a stream when it opens."""
    fields = vars(event)
    tokens = fields.get("tokens") or {}
    is_stream = isinstance(event, Chat.StreamOpened)
    recorded_at = event.timestamp.isoformat()
    return MessageRow(
        chat_id=event.originator_id,
        message_id=fields["message_id"],
        user_id=fields["user_id"],
        role="user" if isinstance(event, Chat.UserMessageRecorded) else "assistant",
        kind="stream" if is_stream else "message",
        status="streaming" if is_stream else "recorded",
        content=None if is_stream else readable(fields["content"]),
        token_count=tokens.get("count"),
        token_encoding=tokens.get("encoding"),
        **_usage(fields.get("usage")),
        **_intent(fields.get("intent")),
        context_items=as_json(fields["context"]),
        model=fields.get("model"),
        temperature=fields.get("temperature"),
        processing_ms=fields.get("processing_ms"),
        generation_ms=fields.get("generation_ms"),
        first_chunk_ms=None,
        duration_ms=None,
        chunk_count=None,
        error_code=fields.get("error_code"),
        error_message=readable(fields.get("error_message")),
        metadata=as_json(fields["metadata"]),
        created_at=recorded_at,
        updated_at=recorded_at,
        position=position,
        version=event.originator_version,
        event_hash=event.hash,
    )


def closed_stream(event: Chat.StreamCompleted | Chat.StreamFailed, position: int) -> MessageClosed:
    completed = isinstance(event, Chat.StreamCompleted)
    tokens = event.tokens if isinstance(event, Chat.StreamCompleted) else {}
    usage = event.usage if isinstance(event, Chat.StreamCompleted) else None
    if completed:
        status = "completed"
    else:
        status = "abandoned" if event.error_code == "STREAM_ABANDONED" else "failed"
    return MessageClosed(
        chat_id=event.originator_id,
        message_id=event.message_id,
        status=status,
        content=readable(event.content) or "",
        token_count=tokens.get("count"),
        token_encoding=tokens.get("encoding"),
        **_usage(usage),
        processing_ms=getattr(event, "processing_ms", None),
        first_chunk_ms=event.first_chunk_ms,
        duration_ms=event.duration_ms,
        chunk_count=event.chunk_count,
        error_code=event.error_code,
        error_message=readable(event.error_message),
        metadata=as_json(event.metadata),
        updated_at=event.timestamp.isoformat(),
        position=position,
        version=event.originator_version,
        event_hash=event.hash,
    )


def message_change(event: ChatEvent, position: int) -> MessageRow | MessageClosed | None:
    if isinstance(event, Chat.StreamCompleted | Chat.StreamFailed):
        return closed_stream(event, position)
    if isinstance(event, Chat.MessageEvent):
        return new_message_row(event, position)
    return None  # Chat.Started: no message
