"""Many messages of one chat in one command and one transaction: imports and catch-up uploads."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from chatledger.domain.application import new_message_id
from chatledger.domain.boundary import CommandRun, validate
from chatledger.domain.chat import Chat
from chatledger.domain.errors import ChatLedgerError, ErrorCode
from chatledger.domain.message_recording import MessagePlan, MessageRecording
from chatledger.domain.messages import CommandResult, MessageIds

MAX_BATCH_MESSAGES = 1000


class BatchResult(CommandResult):
    """The batch's outcome, and one result per message in the order given."""

    results: list[CommandResult] = Field(default_factory=list)


class BatchCommands(MessageRecording):
    def persist_messages(self, chat_id: str, user_id: str, messages: list[Any]) -> BatchResult:
        """Record a run of messages of one chat: all of them or none.

        Each item holds `"role"` (system, developer, user, assistant or tool) and the fields
        of `persist_message` for that role. Messages recorded before (a resumed import)
        come back as duplicates, and the rest are recorded in one transaction.
        """
        fields = {"chat_id": chat_id, "user_id": user_id}

        def action(run: CommandRun) -> BatchResult:
            ids = validate(MessageIds, **fields)
            plans = [self.plan_item(index, item, ids) for index, item in enumerate(messages)]
            for plan in plans:
                plan.message_id = plan.message.message_id or new_message_id()

            def decide(chat: Chat) -> CommandResult:
                results = [self.decide_message(chat, plan) for plan in plans]
                return BatchResult(success=True, chat_id=chat.id, results=results)

            result = self.append(run, ids, decide)
            assert isinstance(result, BatchResult)
            return result

        if not isinstance(messages, list) or not 0 < len(messages) <= MAX_BATCH_MESSAGES:
            return self._command("persist_messages", fields, reject_batch_size, BatchResult)
        return self._command("persist_messages", fields, action, BatchResult)

    def plan_item(self, index: int, item: Any, ids: MessageIds) -> MessagePlan:
        if not isinstance(item, dict):
            raise item_error(index, "each message must be a JSON object")
        if "chat_id" in item or "user_id" in item:
            raise item_error(index, "chat_id and user_id are set for the whole batch")
        fields = {k: v for k, v in item.items() if k != "role" and v is not None}
        fields.update(chat_id=ids.chat_id, user_id=ids.user_id)
        try:
            return self.plan_message(item.get("role"), fields)
        except ChatLedgerError as error:
            raise ChatLedgerError(error.code, f"message {index}: {error.message}",
                                  {"index": index, **error.details}) from None  # fmt: skip


def item_error(index: int, problem: str) -> ChatLedgerError:
    return ChatLedgerError(
        ErrorCode.VALIDATION_ERROR, f"message {index}: {problem}", {"index": index}
    )


def reject_batch_size(run: CommandRun) -> BatchResult:
    raise ChatLedgerError(
        ErrorCode.VALIDATION_ERROR,
        f"messages must be a list of 1 to {MAX_BATCH_MESSAGES} messages",
        {"limit": MAX_BATCH_MESSAGES},
    )
