"""What each chat event changes in the read models, as pure functions of the event.

Every read model is a function of the event log alone: these functions are used by the
incremental projections, by rebuilds, and by the tests' direct computation from the events.
"""

from __future__ import annotations

from functools import partial
from operator import itemgetter
from typing import Any

from chatledger.domain.chat import Chat, ChatEvent
from chatledger.domain.data_subject import DataSubject
from chatledger.domain.ports import ContentProtector
from chatledger.domain.sealed_fields import opened_content, opened_metadata
from chatledger.domain.sealed_message import Opener
from chatledger.projections.rows import (
    EMPTY_CONTEXT,
    AuditEntry,
    ContentErased,
    MessageClosed,
    MessageRow,
    as_json,
    readable,
)

# MessageRow(*values) without the Python frame of the generated __new__ (once per event).
_message_row = partial(tuple.__new__, MessageRow)


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


def _usage(usage: dict[str, Any] | None) -> tuple[int | None, int | None, str | None]:
    if not usage:
        return None, None, None
    return usage.get("input_tokens"), usage.get("output_tokens"), usage.get("source")


def _usage_details(usage: dict[str, Any] | None) -> tuple[int | None, int | None]:
    if not usage:
        return None, None
    return usage.get("cached_input_tokens"), usage.get("reasoning_tokens")


MaybeText = str | None


def _response(
    event: Chat.MessageEvent, opener: Opener
) -> tuple[MaybeText, MaybeText, MaybeText, MaybeText, MaybeText]:
    """tool_calls, finish_reasons, response_id, response_model, refusal (None where none)."""
    fields = vars(event)
    calls, reasons = opener.tool_calls(), fields.get("finish_reasons")
    return (
        None if calls is None else as_json(calls),
        None if reasons is None else as_json(reasons),
        fields.get("response_id"),
        fields.get("response_model"),
        readable(opener.refusal()),
    )


def _listed_parts(parts: list[dict[str, Any]] | None) -> str | None:
    """The parts as the table lists them: described, without their data or text (those are
    in `content`, and in the event; replay and the export give them whole)."""
    if parts is None:
        return None
    return as_json([{k: v for k, v in p.items() if k not in ("data", "text")} for p in parts])


def _intent(intent: dict[str, Any] | None) -> tuple[str | None, float | None, str | None]:
    if not intent:
        return None, None, None
    return intent["name"], intent["confidence"], as_json(intent["keywords"])


def new_message_row(
    event: Chat.MessageEvent, position: int, protector: ContentProtector
) -> MessageRow:
    """The row of a message recorded in one event, or of a stream when it opens."""
    fields = vars(event)
    tokens = fields.get("tokens") or {}
    is_stream = isinstance(event, Chat.StreamOpened)
    recorded_at = event.timestamp.isoformat()
    content = None if is_stream else opened_content(event, protector)
    opener = Opener(event, protector)
    # Positional, in MessageRow's field order: this runs once per event in every rebuild.
    return _message_row((
        event.originator_id,
        fields["message_id"],
        fields["user_id"],
        event.role,
        "stream" if is_stream else "message",
        "streaming" if is_stream else "recorded",
        readable(content),
        tokens.get("count"),
        tokens.get("encoding"),
        *_usage(fields.get("usage")),
        *_intent(fields.get("intent")),
        as_json(fields.get("context", EMPTY_CONTEXT)),
        fields.get("model"),
        fields.get("temperature"),
        fields.get("processing_ms"),
        fields.get("generation_ms"),
        None,
        None,
        None,
        fields.get("error_code"),
        readable(fields.get("error_message")),
        as_json(fields["metadata"]),
        recorded_at,
        recorded_at,
        position,
        event.originator_version,
        event.hash,
        as_json(opened_metadata(event, protector)),
        readable(opener.name()),
        fields.get("tool_call_id"),
        None if content is None else _listed_parts(opener.parts(content)),
        *_response(event, opener),
        fields.get("provider"),
        fields.get("top_p"),
        fields.get("max_tokens"),
        fields.get("seed"),
        *_usage_details(fields.get("usage")),
    ))  # fmt: skip


def message_status(event: ChatEvent) -> str | None:
    """The status of the event's message once it applies, as the messages table has it; None
    for an event about no message."""
    if isinstance(event, Chat.StreamCompleted | Chat.StreamFailed):
        return closed_status(event)
    if isinstance(event, Chat.StreamOpened):
        return "streaming"
    return "recorded" if isinstance(event, Chat.MessageEvent) else None


def closed_status(event: Chat.StreamCompleted | Chat.StreamFailed) -> str:
    if isinstance(event, Chat.StreamCompleted):
        return "completed"
    return "abandoned" if event.error_code == "STREAM_ABANDONED" else "failed"


def closed_stream(
    event: Chat.StreamCompleted | Chat.StreamFailed, position: int, protector: ContentProtector
) -> MessageClosed:
    if isinstance(event, Chat.StreamCompleted):
        tokens, usage = event.tokens, event.usage
    else:
        tokens, usage = {}, None
    opener = Opener(event, protector)
    return MessageClosed(
        event.originator_id,
        event.message_id,
        closed_status(event),
        readable(opened_content(event, protector)) or "",
        tokens.get("count"),
        tokens.get("encoding"),
        *_usage(usage),
        getattr(event, "processing_ms", None),
        event.first_chunk_ms,
        event.duration_ms,
        event.chunk_count,
        event.error_code,
        readable(event.error_message),
        as_json(event.metadata),
        event.timestamp.isoformat(),
        position,
        event.originator_version,
        event.hash,
        as_json(opened_metadata(event, protector)),
        *_response(event, opener),
        *_usage_details(usage),
    )


# Where each field of a closed stream's row comes from, as an index into (*row, *closed):
# closed's value for the fields it has, the row's for the others.
_CLOSED_PICKS = itemgetter(*(
    len(MessageRow._fields) + MessageClosed._fields.index(name)
    if name in MessageClosed._fields else index
    for index, name in enumerate(MessageRow._fields)
))  # fmt: skip


def closed_row(row: MessageRow, closed: MessageClosed) -> MessageRow:
    """The row of a stream once `closed` applies to it."""
    return _message_row(_CLOSED_PICKS(row + closed))


_CLOSING_EVENTS = (Chat.StreamCompleted, Chat.StreamFailed)  # a tuple: isinstance is faster
MessageChange = MessageRow | MessageClosed | ContentErased | None


def message_change(event: ChatEvent, position: int, protector: ContentProtector) -> MessageChange:
    """Content is unsealed through the protector: read models hold plaintext while its owner
    is not erased, and ERASED_CONTENT once the owner's key is gone."""
    if isinstance(event, _CLOSING_EVENTS):
        return closed_stream(event, position, protector)
    if isinstance(event, Chat.MessageEvent):
        return new_message_row(event, position, protector)
    if isinstance(event, DataSubject.Erased):
        return ContentErased(event.user_id)
    return None  # Chat.Started: no message
