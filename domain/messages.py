"""Pydantic inputs of the pipeline's commands and the results they return.

Inputs are strict (no silent coercion: an audit log records what was sent, not a guess of it).
Content may hold any Unicode text, NUL included (the event store escapes it in JSON and it
round-trips exactly); lone surrogates are rejected because they are not text and no UTF-8
store, export or client can represent them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from chatledger.domain.errors import ErrorCode

MAX_CONTENT_BYTES = 512 * 1024
MAX_METADATA_BYTES = 64 * 1024
MAX_METADATA_DEPTH = 8
MAX_CONTEXT_ITEMS = 256
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@/+=#-]{0,127}$"

Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
ModelName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$")]
Title = Annotated[str, StringConstraints(max_length=500)]
ErrorText = Annotated[str, StringConstraints(max_length=4000)]


def reject_lone_surrogates(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        msg = f"text holds a lone surrogate at index {error.start}; it is not valid Unicode text"
        raise ValueError(msg) from None
    return text


def limit_content_size(text: str) -> str:
    # Counting UTF-8 bytes, not characters: storage cost and transport limits are in bytes.
    if len(text) * 4 > MAX_CONTENT_BYTES and len(text.encode("utf-8")) > MAX_CONTENT_BYTES:
        raise ValueError(f"content is larger than {MAX_CONTENT_BYTES} bytes of UTF-8")
    return text


def json_depth(value: Any, depth: int = 0) -> int:
    if depth > MAX_METADATA_DEPTH:
        return depth
    if isinstance(value, dict):
        return max((json_depth(v, depth + 1) for v in value.values()), default=depth + 1)
    if isinstance(value, list):
        return max((json_depth(v, depth + 1) for v in value), default=depth + 1)
    return depth


def json_object_problem(value: Any) -> str | None:
    """What would not survive the event store unchanged: keys that are not text (JSON turns them
    into text, so the stored message would differ from the one sent), and objects shaped like
    the store's own encoding of non-JSON values ({"_type_": ..., "_data_": ...}), which would be
    decoded as such a value, or not at all, making the whole chat unreadable."""
    if isinstance(value, dict):
        if any(not isinstance(key, str) for key in value):
            return "metadata keys must be text"
        if set(value) == {"_type_", "_data_"}:
            return 'metadata may not hold objects with exactly the keys "_type_" and "_data_"'
        children: Iterable[Any] = value.values()
    elif isinstance(value, list | tuple):
        children = value
    else:
        return None
    return next((p for p in map(json_object_problem, children) if p), None)


def check_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    if json_depth(metadata) > MAX_METADATA_DEPTH:
        raise ValueError(f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels")
    problem = json_object_problem(metadata)
    if problem:
        raise ValueError(problem)
    try:
        encoded = json.dumps(metadata, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError) as error:
        raise ValueError(f"metadata is not JSON text: {type(error).__name__}") from None
    if len(encoded) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is larger than {MAX_METADATA_BYTES} bytes as JSON")
    return metadata


Content = Annotated[str, AfterValidator(reject_lone_surrogates), AfterValidator(limit_content_size)]
Metadata = Annotated[dict[str, Any], AfterValidator(check_metadata)]
IdList = Annotated[list[Identifier], Field(max_length=MAX_CONTEXT_ITEMS)]


class StrictInput(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class ContextItems(StrictInput):
    """Ids of what the assistant was given: retrieved document chunks, insights, JTBDs, metrics."""

    document_chunks: IdList = Field(default_factory=list)
    insights: IdList = Field(default_factory=list)
    jtbds: IdList = Field(default_factory=list)
    metrics: IdList = Field(default_factory=list)


class Intent(StrictInput):
    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    confidence: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
    keywords: Annotated[
        list[Annotated[str, StringConstraints(max_length=64)]], Field(max_length=32)
    ] = Field(default_factory=list)


# Far above any model's context window, and far below what the read models' 64-bit counters can
# sum: a count of 2**63 was accepted once, and no projection could apply its event again.
MAX_PROVIDER_TOKENS = 1_000_000_000
TokenCount = Annotated[int, Field(ge=0, le=MAX_PROVIDER_TOKENS)]


class ProviderUsage(StrictInput):
    """Token usage as the model provider reported it (kept beside the pipeline's own count)."""

    input_tokens: TokenCount | None = None
    output_tokens: TokenCount | None = None
    source: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")] = "provider"


class StartChat(StrictInput):
    chat_id: Identifier
    user_id: Identifier
    title: Title | None = None
    model: ModelName | None = None


class UserRef(StrictInput):
    user_id: Identifier


class MessageIds(StrictInput):
    chat_id: Identifier
    user_id: Identifier
    message_id: Identifier | None = None
    idempotency_key: Identifier | None = None


class UserMessage(MessageIds):
    content: Annotated[Content, StringConstraints(min_length=1)]
    context: ContextItems = Field(default_factory=ContextItems)
    metadata: Metadata = Field(default_factory=dict)
    personal_metadata: Metadata = Field(default_factory=dict)  # sealed under the owner's key


class Generation(MessageIds):
    """What an assistant reply and a stream opening share."""

    intent: Intent | None = None
    context: ContextItems = Field(default_factory=ContextItems)
    model: ModelName | None = None
    temperature: Annotated[float, Field(ge=0.0, le=2.0, allow_inf_nan=False)] | None = None
    metadata: Metadata = Field(default_factory=dict)
    personal_metadata: Metadata = Field(default_factory=dict)


class Outcome(StrictInput):
    """How a generation ended: provider usage and, for a failed generation, its error."""

    usage: ProviderUsage | None = None
    error_code: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")] | None = None
    error_message: ErrorText | None = None
    metadata: Metadata = Field(default_factory=dict)
    personal_metadata: Metadata = Field(default_factory=dict)


class AssistantMessage(Generation, Outcome):
    content: Content
    generation_ms: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = None


class StreamEnd(Outcome):
    content: Content | None = None


class PromptMessage(StrictInput):
    role: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    content: Content
    name: Annotated[str, StringConstraints(max_length=64)] | None = None


class TokenSummary(BaseModel):
    count: int
    encoding: str
    exact_model: bool


class CommandError(BaseModel):
    code: ErrorCode
    message: str
    details: dict[str, Any] = Field(default_factory=dict)
    recovery_hint: str


class CommandResult(BaseModel):
    """What every command returns: success with ids and figures, or a coded error."""

    success: bool
    chat_id: str | None = None
    message_id: str | None = None
    version: int | None = None
    processing_ms: float = 0.0
    tokens: TokenSummary | None = None
    duplicate: bool = False
    warnings: list[str] = Field(default_factory=list)
    error: CommandError | None = None


Milliseconds = Annotated[float, Field(ge=0.0, le=7 * 24 * 3600 * 1000.0, allow_inf_nan=False)]


class StreamFigures(StrictInput):
    """What a client that relayed a stream measured (a stream's own context counts these)."""

    chunk_count: Annotated[int, Field(ge=0, le=10_000_000)]
    first_chunk_ms: Milliseconds | None = None
    duration_ms: Milliseconds | None = None

    @model_validator(mode="after")
    def consistent(self) -> StreamFigures:
        if self.chunk_count == 0 and self.first_chunk_ms is not None:
            raise ValueError("first_chunk_ms without any chunk")
        if None not in (self.first_chunk_ms, self.duration_ms) and (
            self.first_chunk_ms > self.duration_ms  # type: ignore[operator]
        ):
            raise ValueError("first_chunk_ms is later than duration_ms")
        return self


class StreamFailure(StrictInput):
    error_code: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")]
    error_message: ErrorText | None = None
    content: Content = ""
    metadata: Metadata = Field(default_factory=dict)
    personal_metadata: Metadata = Field(default_factory=dict)
