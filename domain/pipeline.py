"""The persistence pipeline: the commands a chat backend calls to record its messages."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from chatledger.domain.application import PIPELINE_VERSION
from chatledger.domain.boundary import CommandRun, validate
from chatledger.domain.chat import Chat
from chatledger.domain.conversation_recording import ConversationCommands
from chatledger.domain.erasure import ErasureCommands
from chatledger.domain.errors import ChatLedgerError, ErrorCode
from chatledger.domain.messages import (
    CommandResult,
    ContextItems,
    Intent,
    PromptTokensMessage,
    ProviderUsage,
    StartChat,
)
from chatledger.domain.streaming import StreamCommands

# A text, or a list of parts in the OpenAI, Anthropic or canonical shape (content_parts).
SentContent = str | list[Any]


class PersistencePipeline(ConversationCommands, StreamCommands, ErasureCommands):
    """Every command validates, checks the chat and its owner, records, and returns a result."""

    name = "chatledger"  # names the PostgreSQL tables (chatledger_events) and tracking records

    def start_chat(
        self, chat_id: str, user_id: str, title: str | None = None, model: str | None = None
    ) -> CommandResult:
        fields = {"chat_id": chat_id, "user_id": user_id, "title": title, "model": model}

        def action(run: CommandRun) -> CommandResult:
            command = validate(StartChat, **fields)
            self.protector.ensure_writable(command.user_id)
            title = self.sealed_title(command.user_id, command.chat_id, command.title)
            chat = Chat.start(
                command.chat_id, command.user_id, title, command.model, PIPELINE_VERSION
            )
            if command.chat_id not in self.repository:
                run.attempts = 1
                if self.save_new(chat):
                    return CommandResult(success=True, chat_id=chat.id, version=chat.version)
            existing: Chat = self.repository.get(command.chat_id)
            if existing.owner_id != command.user_id:
                raise ChatLedgerError(
                    ErrorCode.CONFLICT, "chat id is taken by another user", {"chat_id": chat_id}
                )
            return CommandResult(
                success=True, chat_id=chat_id, version=1, duplicate=True,
                warnings=["chat was already started; nothing was recorded"],
            )  # fmt: skip

        return self._command("start_chat", fields, action, CommandResult)

    def persist_message(
        self, chat_id: str, user_id: str, role: str, content: SentContent = "", **fields: Any
    ) -> CommandResult:
        """Record a message of any role: system, developer, user, assistant or tool. `fields`
        are those of the role's own command (for a tool message, `tool_call_id` is required)."""
        given = {"chat_id": chat_id, "user_id": user_id, "content": content,
                 **{k: v for k, v in fields.items() if v is not None}}  # fmt: skip

        def action(run: CommandRun) -> CommandResult:
            return self.record_message(run, self.plan_message(role, given))

        return self._command("persist_message", given, action, CommandResult)

    def persist_user_message(
        self,
        chat_id: str,
        user_id: str,
        content: SentContent,
        *,
        name: str | None = None,
        context: ContextItems | dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        personal_metadata: dict[str, Any] | None = None,
        message_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Record what the user sent: a text, or parts (text, images, files) as the OpenAI and
        Anthropic chat formats send them. An empty message is recorded, with a warning."""
        fields = _given(locals())

        def action(run: CommandRun) -> CommandResult:
            return self.record_message(run, self.plan_message("user", fields))

        return self._command("persist_user_message", fields, action, CommandResult)

    def persist_assistant_message(
        self,
        chat_id: str,
        user_id: str,
        content: SentContent = "",
        *,
        name: str | None = None,
        intent: Intent | dict[str, Any] | None = None,
        context: ContextItems | dict[str, Any] | None = None,
        model: str | None = None,
        temperature: float | None = None,
        provider: str | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
        generation_ms: float | None = None,
        usage: ProviderUsage | dict[str, Any] | None = None,
        tool_calls: list[Any] | None = None,
        finish_reasons: list[str] | None = None,
        response_id: str | None = None,
        response_model: str | None = None,
        refusal: str | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
        metadata: dict[str, Any] | None = None,
        personal_metadata: dict[str, Any] | None = None,
        message_id: str | None = None,
        idempotency_key: str | None = None,
        conversation_key: str | None = None,
    ) -> CommandResult:
        """Record a reply: its text or parts, the tool calls it made (arguments as the JSON text
        the model produced), why it stopped (`finish_reasons`), which response and model
        answered, a refusal; a failed generation is recorded too, with its error code.
        `conversation_key` is the reply's place (domain/conversation_keys.py)."""
        fields = _given(locals())

        def action(run: CommandRun) -> CommandResult:
            return self.record_message(run, self.plan_message("assistant", fields))

        return self._command("persist_assistant_message", fields, action, CommandResult)

    def count_prompt_tokens(self, messages: list[Any], model: str | None = None) -> CommandResult:
        """Chat-format token accounting as OpenAI publishes it for its chat models: 3 tokens per
        message, 1 more per `name`, 3 for priming the reply."""

        def action(run: CommandRun) -> CommandResult:
            prompt = [validate(PromptTokensMessage, **_as_dict(m)) for m in messages]
            warnings: list[str] = []
            empty = self.count_tokens("", model, warnings)
            total = 3  # every reply is primed with <|start|>assistant<|message|>
            for message in prompt:
                parts = [message.role, message.content]
                if message.name is not None:
                    parts.append(message.name)
                    total += 1
                total += 3 + sum(self.count_tokens(p, model, warnings).count for p in parts)
            tokens = empty.model_copy(update={"count": total})
            return CommandResult(success=True, tokens=tokens, warnings=sorted(set(warnings)))

        return self._command("count_prompt_tokens", {}, action, CommandResult, writes=False)


def _given(arguments: dict[str, Any]) -> dict[str, Any]:
    """The command's arguments as input fields; unset optional fields take the model defaults."""
    return {k: v for k, v in arguments.items() if k != "self" and v is not None}


def _as_dict(message: Any) -> dict[str, Any]:
    if isinstance(message, BaseModel):
        return message.model_dump()
    if isinstance(message, dict):
        return dict(message)
    raise ChatLedgerError(ErrorCode.VALIDATION_ERROR, "each message must be a JSON object")
