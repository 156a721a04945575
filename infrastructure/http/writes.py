"""Recording over HTTP: start a chat, persist a message of any role (system, developer, user,
assistant, tool), open a stream and complete or fail it. Each answers the pipeline's
CommandResult: 201 when recorded, 200 when it was recorded before (a retry), the error's status
otherwise.

Streams are stateless on the server: opening returns the stream's message id as its handle; the
client relays the chunks, then completes or fails the stream with the content and the figures it
measured (chunk count, time to first chunk, duration). A server restart in between loses nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response

from chatledger.domain.messages import ROLES, CommandResult, StreamFigures
from chatledger.domain.stream_context import MeasuredStream
from chatledger.infrastructure.http.context import (
    CHECKED,
    ChatIdPath,
    MessageIdPath,
    Services,
    ServicesDep,
    WriterDep,
)
from chatledger.infrastructure.http.models import (
    AssistantMessageBody,
    CompleteStreamBody,
    FailStreamBody,
    GenerationBody,
    PromptMessageBody,
    StartChatBody,
    ToolMessageBody,
    UserMessageBody,
)
from chatledger.infrastructure.http.results import ERROR_RESPONSES, as_response

router = APIRouter(
    prefix="/v1/chats", tags=["recording"], responses=ERROR_RESPONSES, dependencies=CHECKED
)
RECORDED: dict[int | str, dict[str, Any]] = {
    201: {"model": CommandResult, "description": "Recorded"},
    200: {"model": CommandResult, "description": "Recorded before: nothing recorded again"},
}


@router.post("", responses=RECORDED, response_model=None)
def start_chat(body: StartChatBody, caller: WriterDep, wired: ServicesDep) -> Response:
    """Start a chat owned by the caller (a chat id taken by another user is a CONFLICT)."""
    result = wired.pipeline.start_chat(body.chat_id, caller.user_id, body.title, body.model)
    return as_response(result, created=True)


@router.post("/{chat_id:path}/messages/user", responses=RECORDED, response_model=None)
def persist_user_message(
    chat_id: ChatIdPath, body: UserMessageBody, caller: WriterDep, wired: ServicesDep
) -> Response:
    """Record what the user wrote, with its context and metadata; tokens and intent are
    derived. A retry with the same message id or idempotency key records nothing twice."""
    fields = body.fields()
    result = wired.pipeline.persist_user_message(
        chat_id, caller.user_id, fields.pop("content"), **fields
    )
    return as_response(result, created=True)


@router.post("/{chat_id:path}/messages/system", responses=RECORDED, response_model=None)
def persist_system_message(
    chat_id: ChatIdPath, body: PromptMessageBody, caller: WriterDep, wired: ServicesDep
) -> Response:
    """Record the system prompt: the instructions the application gave the model."""
    return persisted(wired, chat_id, caller.user_id, "system", body)


@router.post("/{chat_id:path}/messages/developer", responses=RECORDED, response_model=None)
def persist_developer_message(
    chat_id: ChatIdPath, body: PromptMessageBody, caller: WriterDep, wired: ServicesDep
) -> Response:
    """Record a developer message (the role OpenAI's newer models take instructions in)."""
    return persisted(wired, chat_id, caller.user_id, "developer", body)


@router.post("/{chat_id:path}/messages/tool", responses=RECORDED, response_model=None)
def persist_tool_message(
    chat_id: ChatIdPath, body: ToolMessageBody, caller: WriterDep, wired: ServicesDep
) -> Response:
    """Record what a tool returned, answering the assistant's tool call `tool_call_id`."""
    return persisted(wired, chat_id, caller.user_id, "tool", body)


def persisted(
    wired: Services, chat_id: str, user_id: str, role: str, body: PromptMessageBody
) -> Response:
    """A message of a role that has no endpoint of its own shape: text or parts, a name."""
    result = wired.pipeline.persist_message(chat_id, user_id, role, **body.fields())
    return as_response(result, created=True)


@router.post("/{chat_id:path}/messages/assistant", responses=RECORDED, response_model=None)
def persist_assistant_message(
    chat_id: ChatIdPath, body: AssistantMessageBody, caller: WriterDep, wired: ServicesDep
) -> Response:
    """Record a whole reply: text or parts, tool calls, finish reasons, response id and model,
    a refusal (a failed generation too, with its error code)."""
    fields = body.fields()
    result = wired.pipeline.persist_assistant_message(
        chat_id, caller.user_id, fields.pop("content", None) or "", **fields
    )
    return as_response(result, created=True)


@router.post("/{chat_id:path}/streams", responses=RECORDED, response_model=None)
def open_stream(
    chat_id: ChatIdPath, body: GenerationBody, caller: WriterDep, wired: ServicesDep
) -> Response:
    """Record that a streamed reply has started; its message_id is the handle to complete or
    fail it with."""
    opened = wired.pipeline.open_stream(chat_id, caller.user_id, **body.fields())
    result = CommandResult.model_validate(opened.model_dump(exclude={"stream"}))
    return as_response(result, created=True)


@router.post(
    "/{chat_id:path}/streams/{message_id:path}/complete", responses=RECORDED, response_model=None
)
def complete_stream(
    chat_id: ChatIdPath,
    message_id: MessageIdPath,
    body: CompleteStreamBody,
    caller: WriterDep,
    wired: ServicesDep,
) -> Response:
    """Record the reply with the figures the client measured; no duration: the time since the
    stream was opened. A stream already closed is STREAM_NOT_OPEN (409)."""
    stream = MeasuredStream(
        chat_id, caller.user_id, message_id, chunk_count=body.chunk_count,
        first_chunk_ms=body.first_chunk_ms, duration_ms=body.duration_ms,
    )  # fmt: skip
    figures = set(StreamFigures.model_fields)
    fields = {k: v for k, v in body.fields().items() if k not in figures}
    result = wired.pipeline.complete_stream(stream, fields.pop("content", None), **fields)
    return as_response(result, created=True)


@router.post(
    "/{chat_id:path}/streams/{message_id:path}/fail", responses=RECORDED, response_model=None
)
def fail_stream(
    chat_id: ChatIdPath,
    message_id: MessageIdPath,
    body: FailStreamBody,
    caller: WriterDep,
    wired: ServicesDep,
) -> Response:
    """Record that the stream ended in an error, with the partial reply the user saw."""
    stream = MeasuredStream(
        chat_id, caller.user_id, message_id, chunk_count=body.chunk_count,
        first_chunk_ms=body.first_chunk_ms, duration_ms=body.duration_ms, content=body.content,
    )  # fmt: skip
    result = wired.pipeline.fail_stream(
        stream, body.error_code, body.error_message, metadata=body.metadata,
        personal_metadata=body.personal_metadata,
    )  # fmt: skip
    return as_response(result, created=True)


# Last of the recording routes, so that every route above matches first (ids may hold "/").
@router.post("/{chat_id:path}/messages/{role}", include_in_schema=False)
def refuse_unknown_role(role: str, caller: WriterDep) -> Response:
    """A role with no endpoint: refused naming the roles there are, as in a batch, rather than
    a bare 404 that reads like a typo in the path. The role sent is input: not echoed."""
    raise RequestValidationError([{
        "loc": ("path", "role"), "type": "literal_error",
        "msg": f"unknown role; the roles are {', '.join(ROLES)}",
    }])  # fmt: skip
