"""Recording a conversation as clients of model APIs send it: the whole history with every call.

Each message is keyed by its place (conversation_keys), computed here from the messages
themselves, so a key cannot name other words than its own. A message whose place the chat has
recorded is known by its key alone: no planning, no reading of its event. The others are
recorded as an import records them, each refused alone if it must be, in one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatledger.domain.batch import BatchResult, item_error
from chatledger.domain.boundary import CommandRun, validate
from chatledger.domain.chat import Chat
from chatledger.domain.chat_import import (
    MAX_IMPORT_MESSAGES,
    ChatImport,
    ImportCommands,
    refusal,
)
from chatledger.domain.conversation_keys import conversation_keys
from chatledger.domain.errors import ChatLedgerError
from chatledger.domain.message_recording import MessagePlan
from chatledger.domain.messages import CommandResult, MessageIds, StartChat


class ConversationResult(BatchResult):
    """One result per message, in the order given; `place` is the last message's key."""

    place: str | None = None


class ConversationCommands(ImportCommands):
    def record_conversation(
        self,
        chat_id: str,
        user_id: str,
        messages: list[Any],
        *,
        model: str | None = None,
        whole: bool = False,
    ) -> ConversationResult:
        """Record the messages of a model call's prompt, history and all, in the shapes of
        `persist_messages`: those recorded before (by any call) are known by their place and
        recorded nothing again. Starts the chat if it is new. A message that cannot be recorded
        is refused alone, or with `whole` refuses them all (nothing is recorded)."""
        fields = {"chat_id": chat_id, "user_id": user_id}

        def action(run: CommandRun) -> ConversationResult:
            given = {"model": model} if model is not None else {}
            start = validate(StartChat, chat_id=chat_id, user_id=user_id, **given)
            self.protector.ensure_writable(start.user_id)
            if not isinstance(messages, list) or len(messages) > MAX_IMPORT_MESSAGES:
                raise item_error(0, f"messages must be a list of at most {MAX_IMPORT_MESSAGES}")
            keys = conversation_keys(start.chat_id, [as_item(m) for m in messages])
            with self.chat_locks.holding(start.chat_id):
                run.attempts = 1
                chat = self.chat_to_import(start, None)
                items = self.known_or_planned(chat, start, messages, keys)
                if whole:
                    refuse_any_refused(items)
                imported = self.save_imported(run, [chat], [ChatImport(start, items)])
            recorded = imported.chats[0]
            return ConversationResult(success=True, chat_id=chat.id, version=recorded.version,
                                      results=recorded.results,
                                      place=keys[-1] if keys else None)  # fmt: skip

        return self._command("record_conversation", fields, action, ConversationResult)

    def known_or_planned(
        self, chat: Chat, start: StartChat, messages: list[Any], keys: list[str]
    ) -> list[MessagePlan | CommandResult]:
        ids = MessageIds(chat_id=start.chat_id, user_id=start.user_id)
        items: list[MessagePlan | CommandResult] = []
        for index, (message, key) in enumerate(zip(messages, keys, strict=True)):
            known = chat.idempotency_keys.get(key)
            if known is not None:
                items.append(CommandResult(success=True, chat_id=chat.id, message_id=known,
                                           version=chat.message_versions[known],
                                           duplicate=True))  # fmt: skip
                continue
            if isinstance(message, Mapping) and {"idempotency_key", "message_id"} & set(message):
                error = item_error(index, "a message's id here is its place: send none")
                items.append(refusal(error, start.chat_id, None))
                continue
            keyed = {**message, "idempotency_key": key} if isinstance(message, Mapping) else message
            items.append(self.planned_or_refused(index, keyed, ids))
        return items


def refuse_any_refused(items: list[MessagePlan | CommandResult]) -> None:
    for index, item in enumerate(items):
        if isinstance(item, CommandResult) and not item.success and item.error is not None:
            raise ChatLedgerError(item.error.code, item.error.message,
                                  {"index": index, **item.error.details})  # fmt: skip


def as_item(message: Any) -> Mapping[str, Any]:
    """What is not a message still takes a place (it is refused, alone)."""
    return (
        message if isinstance(message, Mapping) else {"role": None, "content": repr(message)[:200]}
    )
