"""Request bodies and the responses that are not command results, for the OpenAPI document.

Bodies use the domain's own field types, so the document states the pipeline's constraints; the
pipeline validates again (a few constraints, like metadata depth, are not expressible there)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StringConstraints, Tag

from chatledger.domain.content_parts import MAX_PARTS
from chatledger.domain.generation_facts import (
    MAX_TOOL_CALLS,
    FinishReason,
    RequestParameters,
    ToolCallId,
)
from chatledger.domain.input_types import Content, ErrorText, Identifier, Metadata, ModelName, Title
from chatledger.domain.messages import (
    ContextItems,
    Intent,
    ParticipantName,
    ProviderUsage,
    StreamFigures,
)

ErrorCodeText = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")]
Temperature = Annotated[float, Field(ge=0.0, le=2.0, allow_inf_nan=False)]
# Parts and tool calls in the OpenAI, Anthropic or canonical shape: the pipeline validates each
# and names what is wrong (content.parts.1.data, tool_calls.0.arguments); README, "The record".
Parts = Annotated[list[dict[str, Any]], Field(min_length=1, max_length=MAX_PARTS)]
SentContent = Annotated[
    Annotated[Content, Tag("text")] | Annotated[Parts, Tag("parts")],
    # Errors then name `body.content.parts.0`, as the pipeline does, not pydantic's names of
    # the union's members (`body.content.list[dict[str,any]].0`).
    Discriminator(lambda value: "parts" if isinstance(value, list) else "text"),
]
ToolCalls = Annotated[list[dict[str, Any]], Field(max_length=MAX_TOOL_CALLS)]


class Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    def fields(self) -> dict[str, Any]:
        """What the client sent, as the pipeline's keyword arguments."""
        return self.model_dump(exclude_unset=True)


class Ids(Body):
    message_id: Identifier | None = None
    idempotency_key: Identifier | None = None


class StartChatBody(Body):
    chat_id: Identifier = Field(examples=["chat-1"])
    title: Title | None = None
    model: ModelName | None = None


class UserMessageBody(Ids):
    content: SentContent
    name: ParticipantName | None = None
    context: ContextItems | None = None
    metadata: Metadata | None = None
    personal_metadata: Metadata | None = None


class PromptMessageBody(Ids):
    """A system or developer message: the instructions the model was given."""

    content: SentContent
    name: ParticipantName | None = None
    metadata: Metadata | None = None
    personal_metadata: Metadata | None = None


class ToolMessageBody(PromptMessageBody):
    """What a tool returned, answering the assistant's tool call `tool_call_id`."""

    tool_call_id: ToolCallId


class GenerationBody(Ids, RequestParameters):
    intent: Intent | None = None
    context: ContextItems | None = None
    model: ModelName | None = None
    temperature: Temperature | None = None
    metadata: Metadata | None = None
    personal_metadata: Metadata | None = None


class ResponseBody(Body):
    """What the provider answered beside the text (README, "The record")."""

    tool_calls: ToolCalls | None = None
    finish_reasons: Annotated[list[FinishReason], Field(max_length=16)] | None = None
    response_id: Identifier | None = None
    response_model: ModelName | None = None
    refusal: Content | None = None


class AssistantMessageBody(GenerationBody, ResponseBody):
    # null as in the OpenAI chat format, where a reply of tool calls or a refusal has no text.
    content: SentContent | None = ""
    name: ParticipantName | None = None
    generation_ms: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = None
    usage: ProviderUsage | None = None
    error_code: ErrorCodeText | None = None
    error_message: ErrorText | None = None


class CompleteStreamBody(StreamFigures, ResponseBody):
    """The reply and what the client measured while relaying it."""

    content: Content | None = None  # none, when the reply is tool calls or a refusal
    usage: ProviderUsage | None = None
    error_code: ErrorCodeText | None = None
    error_message: ErrorText | None = None
    metadata: Metadata | None = None
    personal_metadata: Metadata | None = None


class FailStreamBody(StreamFigures):
    """How the stream ended, with the partial reply the user saw."""

    chunk_count: Annotated[int, Field(ge=0, le=10_000_000)] = 0
    error_code: ErrorCodeText
    error_message: ErrorText | None = None
    content: Content = ""
    metadata: Metadata | None = None
    personal_metadata: Metadata | None = None


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["reachable", "unreachable"]


class ProjectionLag(BaseModel):
    name: str
    position: int
    head: int
    lag: int
    # Events the read model skipped as unreadable (`chatledger status` lists them).
    quarantined: int = 0


class Readiness(BaseModel):
    ready: bool
    max_lag: int
    # The log's head when the service started: until every read model has reached it, answers
    # would come from read models that have not caught up since start, whatever their lag.
    head_at_start: int = 0
    projections: list[ProjectionLag] = Field(default_factory=list)
    database: Literal["reachable", "unreachable"] = "reachable"
