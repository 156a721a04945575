"""What a model call was asked and what it answered, beside the text: the request parameters,
the tool calls it made, why it stopped, which response and model answered, a refusal. Field
names follow the OpenTelemetry GenAI conventions where the export and logs show them."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints, field_validator, model_validator

from chatledger.domain.input_types import (
    MAX_CONTENT_BYTES,
    Content,
    Identifier,
    ModelName,
    StrictInput,
)

MAX_TOOL_CALLS = 128
# Tool call ids as providers make them: call_abc123 (OpenAI), toolu_01A09q90 (Anthropic).
ToolCallId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
FunctionName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$")]
FinishReason = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
ProviderName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")]


def json_text(arguments: str) -> str:
    """Tool arguments are the JSON text the model produced: kept as text, and JSON it must be."""
    if len(arguments) * 4 > MAX_CONTENT_BYTES and len(arguments.encode()) > MAX_CONTENT_BYTES:
        raise ValueError(f"arguments are larger than {MAX_CONTENT_BYTES} bytes")
    try:
        json.loads(arguments)
    except ValueError:
        raise ValueError("arguments are not JSON text") from None
    return arguments


class ToolCall(StrictInput):
    """A call the model asked for. Accepted flat, in the OpenAI shape (`function: {name,
    arguments}`) or the Anthropic one (`input` as an object, kept as its JSON text)."""

    id: ToolCallId
    type: Literal["function"] = "function"
    name: FunctionName
    arguments: Annotated[Content, AfterValidator(json_text)]

    @model_validator(mode="before")
    @classmethod
    def from_chat_formats(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        if isinstance(value.get("function"), dict):
            function = value["function"]
            rest = {k: v for k, v in value.items() if k != "function"}
            return {**rest, "name": function.get("name"), "arguments": function.get("arguments")}
        if value.get("type") == "tool_use" and "input" in value:
            rest = {k: v for k, v in value.items() if k not in ("input", "type")}
            return {**rest, "arguments": json.dumps(value["input"], ensure_ascii=False)}
        return value


class RequestParameters(StrictInput):
    """What the model was asked with, beside the model and temperature."""

    provider: ProviderName | None = None  # gen_ai.provider.name
    top_p: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] | None = None
    max_tokens: Annotated[int, Field(ge=1, le=100_000_000)] | None = None
    seed: Annotated[int, Field(ge=-(2**63), le=2**63 - 1)] | None = None


class ResponseFacts(StrictInput):
    """What the provider answered, beside the text."""

    tool_calls: Annotated[list[ToolCall], Field(max_length=MAX_TOOL_CALLS)] | None = None
    finish_reasons: Annotated[list[FinishReason], Field(max_length=16)] | None = None
    response_id: Identifier | None = None  # gen_ai.response.id
    response_model: ModelName | None = None  # gen_ai.response.model
    refusal: Content | None = None  # sealed like content: it is the model's words

    @field_validator("tool_calls")
    @classmethod
    def unique_call_ids(cls, calls: list[ToolCall] | None) -> list[ToolCall] | None:
        ids = [call.id for call in calls or []]
        if len(set(ids)) != len(ids):
            raise ValueError("tool call ids must be unique within a message")
        return calls


REQUEST_FIELDS = tuple(RequestParameters.model_fields)
