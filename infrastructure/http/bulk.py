"""Many messages at once over HTTP: a run of one chat's messages in one transaction
(persist_messages), whole conversations of many chats (import_chats), and prompt token counts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import Field, StringConstraints
from starlette.responses import Response

from chatledger.domain.batch import MAX_BATCH_MESSAGES, BatchResult
from chatledger.domain.chat_import import ImportResult
from chatledger.domain.input_types import Content, Identifier, ModelName, Title
from chatledger.domain.messages import CommandResult
from chatledger.infrastructure.http.context import CHECKED, ChatIdPath, ServicesDep, WriterDep
from chatledger.infrastructure.http.models import (
    AssistantMessageBody,
    Body,
    PromptMessageBody,
    ToolMessageBody,
    UserMessageBody,
)
from chatledger.infrastructure.http.results import ERROR_RESPONSES, as_response

router = APIRouter(prefix="/v1", tags=["recording"], responses=ERROR_RESPONSES,
                   dependencies=CHECKED)  # fmt: skip


class SystemItem(PromptMessageBody):
    role: Literal["system"]


class DeveloperItem(PromptMessageBody):
    role: Literal["developer"]


class UserItem(UserMessageBody):
    role: Literal["user"]


class AssistantItem(AssistantMessageBody):
    role: Literal["assistant"]


class ToolItem(ToolMessageBody):
    role: Literal["tool"]


# By role: an unknown one is refused with the roles there are (422, VALIDATION_ERROR).
Item = Annotated[
    SystemItem | DeveloperItem | UserItem | AssistantItem | ToolItem, Field(discriminator="role")
]
Items = Annotated[list[Item], Field(min_length=1, max_length=MAX_BATCH_MESSAGES)]


class BatchBody(Body):
    messages: Items


class ImportedChat(Body):
    chat_id: Identifier
    title: Title | None = None
    model: ModelName | None = None
    messages: Items


class ImportBody(Body):
    chats: Annotated[list[ImportedChat], Field(min_length=1, max_length=1000)]


class PromptItem(Body):
    role: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    content: Content
    name: Annotated[str, StringConstraints(max_length=64)] | None = None


class TokenCountBody(Body):
    messages: Annotated[list[PromptItem], Field(max_length=MAX_BATCH_MESSAGES)]
    model: ModelName | None = None


def answered(model: type[CommandResult], created: bool) -> dict[int | str, dict[str, Any]]:
    answers: dict[int | str, dict[str, Any]] = {200: {"model": model, "description": "Answered"}}
    if created:
        answers[201] = {"model": model, "description": "Recorded"}
        answers[200]["description"] = "Every message was recorded before: nothing recorded"
    return answers


@router.post("/chats/{chat_id:path}/messages", responses=answered(BatchResult, True),
             response_model=None)  # fmt: skip
def persist_messages(
    chat_id: ChatIdPath, body: BatchBody, caller: WriterDep, wired: ServicesDep
) -> Response:
    """A run of messages of one chat, of every role, recorded all or none in one transaction;
    those recorded before come back as duplicates (a resumed upload)."""
    items = [item.fields() for item in body.messages]
    result = wired.pipeline.persist_messages(chat_id, caller.user_id, items)
    return as_response(result, created=any(not r.duplicate for r in result.results))


@router.post("/imports", responses=answered(ImportResult, True), response_model=None)
def import_chats(body: ImportBody, caller: WriterDep, wired: ServicesDep) -> Response:
    """Whole conversations of many chats of the caller, new chats started, in one transaction:
    for bulk loads. A message the pipeline refuses is refused alone, with its own result."""
    result = wired.pipeline.import_chats(caller.user_id, [chat.fields() for chat in body.chats])
    recorded = any(not r.duplicate for chat in result.chats for r in chat.results)
    return as_response(result, created=recorded)


@router.post("/tokens/count", responses=answered(CommandResult, False), response_model=None)
def count_prompt_tokens(body: TokenCountBody, caller: WriterDep, wired: ServicesDep) -> Response:
    """The prompt tokens of chat messages as the model's encoding counts them (records
    nothing)."""
    messages = [item.fields() for item in body.messages]
    return as_response(wired.pipeline.count_prompt_tokens(messages, body.model))
