"""Recording one message of any role: validate it into a plan, then decide it against the chat
as it stands.

`processing_ms` is the message's own cost: validating and planning it, then counting its tokens
and sealing it when it is decided. It leaves out the time it waited (for the chat's lock, for
the other messages of its batch or import window), the time its transaction took to save
(`store_ms` in the logs) and the one-time load of its model's encoding: so a message of a bulk
import, or the first of a process, costs what it would cost alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chatledger.domain.application import PIPELINE_VERSION, ChatApplication, new_message_id
from chatledger.domain.boundary import CommandRun, validate
from chatledger.domain.chat import Chat
from chatledger.domain.content_parts import ContentPart, text_of
from chatledger.domain.errors import ChatLedgerError, ErrorCode
from chatledger.domain.generation_facts import REQUEST_FIELDS
from chatledger.domain.messages import (
    ROLES,
    AssistantMessage,
    CommandResult,
    PromptMessage,
    ToolMessage,
    UserMessage,
)
from chatledger.domain.ports import content_binding
from chatledger.domain.sealed_message import Sealer

RecordedMessage = UserMessage | AssistantMessage | PromptMessage | ToolMessage


@dataclass
class MessagePlan:
    """A validated message and how to record it; deciding it needs the chat as it stands."""

    message: RecordedMessage
    event: type[Chat.MessageEvent]
    model: Callable[[Chat], str | None]
    details: Callable[[Chat, Sealer], dict[str, Any]]  # the role's own fields
    warnings: list[str] = field(default_factory=list)
    message_id: str = ""
    planned_ms: float = 0.0  # validating and planning this message alone

    @property
    def recorded_as(self) -> tuple[type[Chat.MessageEvent], ...]:
        """The events that record a message like this one: a reply came whole or streamed."""
        if self.event is Chat.AssistantMessageRecorded:
            return (Chat.AssistantMessageRecorded, Chat.StreamCompleted)
        return (self.event,)

    @property
    def text(self) -> str:
        content = self.message.content
        return content if isinstance(content, str) else text_of(content)

    @property
    def parts(self) -> list[ContentPart] | None:
        content = self.message.content
        return None if isinstance(content, str) else content


def chat_model(chat: Chat) -> str | None:
    """Messages other than replies are counted with the encoding of the chat's model."""
    return chat.model


def no_details(chat: Chat, sealer: Sealer) -> dict[str, Any]:
    return {}


class MessageRecording(ChatApplication):
    def plan_message(self, role: Any, fields: dict[str, Any]) -> MessagePlan:
        """The plan for a message of `role`: one of ROLES, never recast to another."""
        planners: dict[str, Callable[[dict[str, Any]], MessagePlan]] = {
            "system": self.plan_system_message,
            "developer": self.plan_developer_message,
            "user": self.plan_user_message,
            "assistant": self.plan_assistant_message,
            "tool": self.plan_tool_message,
        }
        if not isinstance(role, str) or role not in planners:  # a list or dict is unhashable
            raise ChatLedgerError(
                ErrorCode.VALIDATION_ERROR,
                f"role must be one of {', '.join(ROLES)}",
                {"errors": [{"field": "role", "problem": "unknown role", "type": "enum"}],
                 "allowed": list(ROLES)},
            )  # fmt: skip
        started = self.clock()
        plan = planners[role](fields)
        plan.planned_ms = self.elapsed_ms(started)
        return plan

    def plan_user_message(self, fields: dict[str, Any]) -> MessagePlan:
        message = validate(UserMessage, **fields)
        plan = MessagePlan(message, Chat.UserMessageRecorded, chat_model, no_details)
        intent = self.intent_detector.detect(plan.text)
        plan.details = lambda chat, sealer: {
            "intent": {"name": intent.name, "confidence": intent.confidence,
                       "keywords": list(intent.keywords)},
            "context": message.context.model_dump(),
        }  # fmt: skip
        return self.warn_if_empty(plan, "empty message recorded")

    def plan_assistant_message(self, fields: dict[str, Any]) -> MessagePlan:
        message = validate(AssistantMessage, **fields)

        def model(chat: Chat) -> str | None:
            return message.model or chat.model

        def details(chat: Chat, sealer: Sealer) -> dict[str, Any]:
            return {
                "intent": message.intent.model_dump() if message.intent else None,
                "context": message.context.model_dump(),
                "model": model(chat),
                "temperature": message.temperature,
                "usage": message.usage.recorded() if message.usage else None,
                "generation_ms": message.generation_ms,
                "conversation_key": message.conversation_key,
                "error_code": message.error_code,
                "error_message": message.error_message,
                **{name: getattr(message, name) for name in REQUEST_FIELDS},
                **response_facts(message, sealer),
            }

        plan = MessagePlan(message, Chat.AssistantMessageRecorded, model, details)
        if message.tool_calls or message.refusal is not None:
            return plan  # a reply of tool calls or a refusal has no text of its own
        return self.warn_if_empty(plan, "empty reply recorded")

    def plan_system_message(self, fields: dict[str, Any]) -> MessagePlan:
        message = validate(PromptMessage, **fields)
        plan = MessagePlan(message, Chat.SystemMessageRecorded, chat_model, no_details)
        return self.warn_if_empty(plan, "empty message recorded")

    def plan_developer_message(self, fields: dict[str, Any]) -> MessagePlan:
        message = validate(PromptMessage, **fields)
        plan = MessagePlan(message, Chat.DeveloperMessageRecorded, chat_model, no_details)
        return self.warn_if_empty(plan, "empty message recorded")

    def plan_tool_message(self, fields: dict[str, Any]) -> MessagePlan:
        message = validate(ToolMessage, **fields)
        plan = MessagePlan(message, Chat.ToolMessageRecorded, chat_model,
                           lambda chat, sealer: {"tool_call_id": message.tool_call_id})  # fmt: skip
        return self.warn_if_empty(plan, "empty message recorded")

    @staticmethod
    def warn_if_empty(plan: MessagePlan, warning: str) -> MessagePlan:
        if not plan.text and not plan.parts:
            plan.warnings.append(warning)
        return plan

    def record_message(self, run: CommandRun, plan: MessagePlan) -> CommandResult:
        """Record a message once: a retry returns the original, a new one is counted and linked."""
        run.message_id = plan.message_id = plan.message.message_id or new_message_id()
        return self.append(run, plan.message, lambda chat: self.decide_message(chat, plan))

    def decide_message(self, chat: Chat, plan: MessagePlan) -> CommandResult:
        model = plan.model(chat)
        self.token_counter.prepare(model)
        started = self.clock()
        message, text, parts = plan.message, plan.text, plan.parts
        fingerprint = [(str(p.type), p.sha256) for p in parts] if parts else None
        duplicate = self.find_duplicate(chat, message, plan.recorded_as, text, fingerprint)
        if duplicate:
            return duplicate
        notes = list(plan.warnings)
        tokens = self.count_tokens(text, model, notes)
        sealer = Sealer(self.protector, chat.owner_id, chat.id, plan.message_id)
        fields = {
            "message_id": plan.message_id,
            "user_id": message.user_id,
            "idempotency_key": message.idempotency_key,
            "content": self.protector.seal(
                chat.owner_id, text, content_binding(chat.id, plan.message_id)
            ),
            "parts": sealer.parts(parts) if parts else None,
            "name": None if message.name is None else sealer.seal("name", message.name),
            "tokens": tokens.model_dump(),
            "metadata": message.metadata,
            "personal_metadata": self.sealed_metadata(
                chat, plan.message_id, message.personal_metadata
            ),
            "pipeline_version": PIPELINE_VERSION,
            **plan.details(chat, sealer),
        }
        fields["processing_ms"] = round(plan.planned_ms + self.elapsed_ms(started), 3)
        chat.trigger_event(plan.event, **fields)
        return CommandResult(success=True, chat_id=chat.id, message_id=plan.message_id,
                             version=chat.version, tokens=tokens,
                             warnings=sorted(set(notes)))  # fmt: skip


def response_facts(message: Any, sealer: Sealer) -> dict[str, Any]:
    """A reply's response facts as its event records them (tool call arguments and a refusal
    sealed)."""
    return {
        "tool_calls": sealer.tool_calls(message.tool_calls) if message.tool_calls else None,
        "finish_reasons": message.finish_reasons,
        "response_id": message.response_id,
        "response_model": message.response_model,
        "refusal": None if message.refusal is None else sealer.seal("refusal", message.refusal),
    }
