"""Recording one message: validate it into a plan, then decide it against the chat as it stands."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from chatledger.domain.application import PIPELINE_VERSION, ChatApplication, new_message_id
from chatledger.domain.boundary import CommandRun, validate
from chatledger.domain.chat import Chat
from chatledger.domain.messages import AssistantMessage, CommandResult, UserMessage
from chatledger.domain.ports import content_binding


@dataclass
class MessagePlan:
    """A validated message and how to record it; deciding it needs the chat as it stands."""

    message: UserMessage | AssistantMessage
    event: type[Chat.MessageEvent]
    model: Callable[[Chat], str | None]
    details: Callable[[Chat], dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    message_id: str = ""


def chat_model(chat: Chat) -> str | None:
    """User messages are counted with the encoding of the chat's model."""
    return chat.model


class MessageRecording(ChatApplication):
    def plan_user_message(self, fields: dict[str, Any]) -> MessagePlan:
        started = perf_counter()
        message = validate(UserMessage, **fields)
        intent = self.intent_detector.detect(message.content)

        def details(chat: Chat) -> dict[str, Any]:
            return {
                "intent": {"name": intent.name, "confidence": intent.confidence,
                           "keywords": list(intent.keywords)},
                "context": message.context.model_dump(),
                "processing_ms": elapsed_ms(started),
            }  # fmt: skip

        return MessagePlan(message, Chat.UserMessageRecorded, chat_model, details)

    def plan_assistant_message(self, fields: dict[str, Any]) -> MessagePlan:
        started = perf_counter()
        message = validate(AssistantMessage, **fields)

        def model(chat: Chat) -> str | None:
            return message.model or chat.model

        def details(chat: Chat) -> dict[str, Any]:
            return {
                "intent": message.intent.model_dump() if message.intent else None,
                "context": message.context.model_dump(),
                "model": model(chat),
                "temperature": message.temperature,
                "usage": message.usage.model_dump() if message.usage else None,
                "generation_ms": message.generation_ms,
                "processing_ms": elapsed_ms(started),
                "error_code": message.error_code,
                "error_message": message.error_message,
            }

        warnings = ["empty reply recorded"] if not message.content else []
        return MessagePlan(message, Chat.AssistantMessageRecorded, model, details, warnings)

    def record_message(self, run: CommandRun, plan: MessagePlan) -> CommandResult:
        """Record a message once: a retry returns the original, a new one is counted and linked."""
        run.message_id = plan.message_id = plan.message.message_id or new_message_id()
        return self.append(run, plan.message, lambda chat: self.decide_message(chat, plan))

    def decide_message(self, chat: Chat, plan: MessagePlan) -> CommandResult:
        message = plan.message
        duplicate = self.find_duplicate(chat, message, plan.event, message.content)
        if duplicate:
            return duplicate
        notes = list(plan.warnings)
        tokens = self.count_tokens(message.content, plan.model(chat), notes)
        chat.trigger_event(
            plan.event,
            message_id=plan.message_id,
            user_id=message.user_id,
            idempotency_key=message.idempotency_key,
            content=self.protector.seal(
                message.user_id, message.content, content_binding(chat.id, plan.message_id)
            ),
            tokens=tokens.model_dump(),
            metadata=message.metadata,
            personal_metadata=self.sealed_metadata(
                chat, plan.message_id, message.personal_metadata
            ),
            pipeline_version=PIPELINE_VERSION,
            **plan.details(chat),
        )
        return CommandResult(success=True, chat_id=chat.id, message_id=plan.message_id,
                             version=chat.version, tokens=tokens,
                             warnings=sorted(set(notes)))  # fmt: skip


def elapsed_ms(started: float) -> float:
    return round((perf_counter() - started) * 1000.0, 3)
