"""Pydantic inputs of the pipeline's commands and the results they return (their building
blocks, ids, content and metadata, are in input_types)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    model_validator,
)

from chatledger.domain.content_parts import PartList, check_inline_total
from chatledger.domain.errors import ErrorCode
from chatledger.domain.generation_facts import RequestParameters, ResponseFacts, ToolCallId
from chatledger.domain.input_types import (
    Content,
    ErrorText,
    Identifier,
    IdList,
    Metadata,
    ModelName,
    StrictInput,
    Title,
)


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
    """Token usage as the model provider reported it (kept beside the pipeline's own count):
    gen_ai.usage.input_tokens and output_tokens; of the input, the tokens read from the
    provider's prompt cache; of the output, the reasoning tokens, where the provider says."""

    input_tokens: TokenCount | None = None
    output_tokens: TokenCount | None = None
    cached_input_tokens: TokenCount | None = None
    reasoning_tokens: TokenCount | None = None
    source: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")] = "provider"

    def recorded(self) -> dict[str, Any]:
        """As events record it: the cached and reasoning counts only where reported."""
        given = self.model_dump()
        return {k: v for k, v in given.items() if v is not None or k not in OPTIONAL_COUNTS}


OPTIONAL_COUNTS = ("cached_input_tokens", "reasoning_tokens")


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


ROLES = ("system", "developer", "user", "assistant", "tool")
# A text, or parts as the chat formats send them (content_parts); "" is recorded, with a warning.
MessageContent = Annotated[
    Annotated[Content, Tag("text")]
    | Annotated[PartList, AfterValidator(check_inline_total), Tag("parts")],
    # Errors then name `content.parts.1.data`, not pydantic's names of the union's members.
    Discriminator(lambda value: "text" if isinstance(value, str) else "parts"),
]
# A participant's name, as OpenAI's chat format allows it beside the role.
ParticipantName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class UserMessage(MessageIds):
    content: MessageContent
    name: ParticipantName | None = None
    context: ContextItems = Field(default_factory=ContextItems)
    metadata: Metadata = Field(default_factory=dict)
    personal_metadata: Metadata = Field(default_factory=dict)  # sealed under the owner's key


class PromptMessage(MessageIds):
    """A system or developer message: the instructions the model was given."""

    content: MessageContent
    name: ParticipantName | None = None
    metadata: Metadata = Field(default_factory=dict)
    personal_metadata: Metadata = Field(default_factory=dict)


class ToolMessage(PromptMessage):
    """What a tool returned; `tool_call_id` names the assistant's call it answers."""

    tool_call_id: ToolCallId


class Generation(MessageIds, RequestParameters):
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


class AssistantMessage(Generation, Outcome, ResponseFacts):
    content: MessageContent = ""  # none, when the reply is tool calls or a refusal
    name: ParticipantName | None = None
    generation_ms: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = None
    conversation_key: Identifier | None = None  # the reply's place (conversation_keys)


class StreamEnd(Outcome, ResponseFacts):
    content: Content | None = None
    conversation_key: Identifier | None = None


class PromptTokensMessage(StrictInput):
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
