"""The rows the read models are made of, as plain tuples: a message, a stream's closing, an
audit entry, an erasure; and how values are shown there (JSON text, NUL as a visible symbol)."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from chatledger.domain.ports import ERASED_CONTENT

# PostgreSQL text cannot hold NUL; the event store keeps the exact content, read models show
# the visible symbol for NUL (U+2400) on both backends so that they stay identical.
NUL_SYMBOL = "\u2400"


def readable(text: str | None) -> str | None:
    return None if text is None else text.replace("\x00", NUL_SYMBOL)


EMPTY_CONTEXT: dict[str, list[str]] = {
    "document_chunks": [],
    "insights": [],
    "jtbds": [],
    "metrics": [],
}
EMPTY_CONTEXT_JSON = json.dumps(EMPTY_CONTEXT, sort_keys=True)


# What json.dumps(value, sort_keys=True, ensure_ascii=False) makes an encoder for on every
# call: made once, since rows call it for their metadata and intent keywords (0.9 us a call).
_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False)


def as_json(value: Any) -> str:
    # Most messages carry no metadata and no context: skip the encoder for those (rebuild speed).
    if not value:
        return "[]" if isinstance(value, list) else "{}"
    if value == EMPTY_CONTEXT:
        return EMPTY_CONTEXT_JSON
    return _ENCODER.encode(value)


class MessageRow(NamedTuple):
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
    # Last: a table created before it gained the column at its end, and rows keep one order.
    personal_metadata: str  # JSON: the object, or "[erased]" / "[unreadable]" in its place
    # Added with every role, content parts and generation facts (NULL in rows from before).
    name: str | None
    tool_call_id: str | None
    parts: str | None  # JSON: each part's type, media type, size, SHA-256, URL, file name
    tool_calls: str | None  # JSON: id, type, name, arguments (the JSON text the model gave)
    finish_reasons: str | None  # JSON list
    response_id: str | None
    response_model: str | None
    refusal: str | None
    provider: str | None
    top_p: float | None
    max_tokens: int | None
    seed: int | None
    cached_input_tokens: int | None
    reasoning_tokens: int | None


class MessageClosed(NamedTuple):
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
    personal_metadata: str
    tool_calls: str | None
    finish_reasons: str | None
    response_id: str | None
    response_model: str | None
    refusal: str | None
    cached_input_tokens: int | None
    reasoning_tokens: int | None


class AuditEntry(NamedTuple):
    position: int
    recorded_at: str
    chat_id: str
    user_id: str
    event_type: str
    message_id: str | None
    version: int
    event_hash: str


class ContentErased(NamedTuple):
    """A user was erased: the content and personal metadata of every row of theirs read
    ERASED_CONTENT from now on."""

    user_id: str


ERASED_METADATA = json.dumps(ERASED_CONTENT)


def erased(row: MessageRow) -> MessageRow:
    """The row as an erasure leaves it (empty content and metadata reveal nothing and stay).
    Parts and tool calls hold what people and models wrote (URLs, file names, arguments):
    each goes whole, as the erasure's SQL does it (sql_views); so does a participant's name."""
    content = ERASED_CONTENT if row.content else row.content
    personal = row.personal_metadata if row.personal_metadata == "{}" else ERASED_METADATA
    return row._replace(
        content=content, personal_metadata=personal,
        parts=None if row.parts is None else ERASED_METADATA,
        tool_calls=None if row.tool_calls is None else ERASED_METADATA,
        refusal=None if row.refusal is None else ERASED_CONTENT,
        name=None if row.name is None else ERASED_CONTENT,
    )  # fmt: skip
