"""Bulk import: whole conversations of many chats recorded in one transaction.

The log records what happened: a message that cannot be recorded (an unknown role, a malformed
tool call, ...) is refused on its own, with its own coded result, and never takes its chat's
other messages or the other chats down. What concerns a whole chat (its id, its owner) or the
whole import (its size, the store) still refuses the import, all of it."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from eventsourcing.persistence import IntegrityError
from pydantic import Field

from chatledger.domain.application import PIPELINE_VERSION, new_message_id
from chatledger.domain.batch import BatchCommands, BatchResult, item_error
from chatledger.domain.boundary import CommandRun, loggable_id, validate
from chatledger.domain.chat import Chat
from chatledger.domain.errors import ChatLedgerError, ErrorCode
from chatledger.domain.message_recording import MessagePlan
from chatledger.domain.messages import CommandError, CommandResult, MessageIds, StartChat, UserRef
from chatledger.domain.ports import OriginatorIndex

MAX_IMPORT_MESSAGES = 5000


class ImportResult(CommandResult):
    """One result per chat, each with one result per message, in the order given."""

    chats: list[BatchResult] = Field(default_factory=list)


class ChatImport:
    """A chat of an import: how to start it if it is new, and its messages, each planned or
    refused on its own."""

    def __init__(self, start: StartChat, items: list[MessagePlan | CommandResult]) -> None:
        self.start, self.items = start, items

    @property
    def plans(self) -> list[MessagePlan]:
        return [item for item in self.items if isinstance(item, MessagePlan)]


class ImportCommands(BatchCommands):
    def import_chats(self, user_id: str, chats: list[Any]) -> ImportResult:
        """Record the conversations of many chats owned by `user_id` in one transaction.

        Each chat is `{"chat_id", "title"?, "model"?, "messages": [...]}` with messages as for
        `persist_messages`. New chats are started; messages recorded before (a resumed import)
        come back as duplicates; a message that cannot be recorded comes back refused, alone.
        For bulk loads: a live chat backend records as it goes.
        """

        def action(run: CommandRun) -> ImportResult:
            owner = validate(UserRef, user_id=user_id).user_id
            self.protector.ensure_writable(owner)
            imports = self.plan_import(owner, chats)
            with ExitStack() as locks:
                for chat_id in sorted(i.start.chat_id for i in imports):
                    locks.enter_context(self.chat_locks.holding(chat_id))
                run.attempts = 1
                return self.record_import(run, imports)

        return self._command("import_chats", {"user_id": user_id}, action, ImportResult)

    def plan_import(self, owner: str, chats: Any) -> list[ChatImport]:
        if not isinstance(chats, list) or not chats:
            raise ChatLedgerError(ErrorCode.VALIDATION_ERROR, "chats must be a non-empty list")
        imports = [self.plan_chat(index, spec, owner) for index, spec in enumerate(chats)]
        if sum(len(i.items) for i in imports) > MAX_IMPORT_MESSAGES:
            raise ChatLedgerError(ErrorCode.VALIDATION_ERROR,
                                  f"an import holds at most {MAX_IMPORT_MESSAGES} messages",
                                  {"limit": MAX_IMPORT_MESSAGES})  # fmt: skip
        if len({i.start.chat_id for i in imports}) < len(imports):
            raise ChatLedgerError(ErrorCode.VALIDATION_ERROR, "a chat appears twice in the import")
        return imports

    def plan_chat(self, index: int, spec: Any, owner: str) -> ChatImport:
        if not isinstance(spec, dict) or not isinstance(spec.get("messages"), list):
            raise item_error(index, "each chat must be an object with a list of messages")
        fields = {k: spec.get(k) for k in ("chat_id", "title", "model") if spec.get(k) is not None}
        try:
            start = validate(StartChat, user_id=owner, **fields)
        except ChatLedgerError as error:
            raise ChatLedgerError(error.code, f"chat {index}: {error.message}",
                                  {"chat_index": index, **error.details}) from None  # fmt: skip
        ids = MessageIds(chat_id=start.chat_id, user_id=owner)
        items = [self.planned_or_refused(n, item, ids) for n, item in enumerate(spec["messages"])]
        return ChatImport(start, items)

    def planned_or_refused(
        self, index: int, item: Any, ids: MessageIds
    ) -> MessagePlan | CommandResult:
        try:
            plan = self.plan_item(index, item, ids)
        except ChatLedgerError as error:
            message_id = item.get("message_id") if isinstance(item, dict) else None
            return refusal(error, ids.chat_id, loggable_id(message_id))
        plan.message_id = plan.message.message_id or new_message_id()
        return plan

    def record_import(self, run: CommandRun, imports: list[ChatImport]) -> ImportResult:
        stored = self.stored_chats([i.start.chat_id for i in imports])
        chats = [self.chat_to_import(i.start, stored) for i in imports]
        return self.save_imported(run, chats, imports)

    def save_imported(
        self, run: CommandRun, chats: list[Chat], imports: list[ChatImport]
    ) -> ImportResult:
        """Decide each chat's planned messages and save what they record, in one transaction."""
        loaded_versions = [chat.version - len(chat.pending_events) for chat in chats]
        results = [
            BatchResult(success=True, chat_id=chat.id, version=0, results=[
                self.decide_message(chat, item) if isinstance(item, MessagePlan) else item
                for item in i.items
            ])
            for chat, i in zip(chats, imports, strict=True)
        ]  # fmt: skip
        events = [e for chat in chats for e in chat.collect_events()]
        try:
            with run.storing():
                if events:
                    self.group_commit.commit(events)
        except IntegrityError:
            for chat in chats:
                self.forget(chat.id)
            raise ChatLedgerError(ErrorCode.CONFLICT,
                                  "another writer changed one of these chats meanwhile",
                                  {"chats": len(chats)}) from None  # fmt: skip
        for chat, result, loaded in zip(chats, results, loaded_versions, strict=True):
            self.remember_saved(chat)
            self.snapshot_if_due(chat, loaded)
            result.version = chat.version
        return ImportResult(success=True, chats=results)

    def stored_chats(self, chat_ids: list[str]) -> set[str] | None:
        """Which of these chats have events, in one query; None where the store cannot say so
        at once (then each chat is looked up). The chats' locks are held: only another process
        can start one meanwhile, and its events then conflict with ours (CONFLICT, no harm)."""
        if isinstance(self.recorder, OriginatorIndex):
            return self.recorder.originators_among(chat_ids)
        return None

    def chat_to_import(self, start: StartChat, stored: set[str] | None) -> Chat:
        if stored is None or start.chat_id in stored:
            try:
                return self.load_owned_chat(start.chat_id, start.user_id)
            except ChatLedgerError as error:
                if error.code is not ErrorCode.CHAT_NOT_FOUND:
                    raise
        title = self.sealed_title(start.user_id, start.chat_id, start.title)
        return Chat.start(start.chat_id, start.user_id, title, start.model, PIPELINE_VERSION)


def refusal(error: ChatLedgerError, chat_id: str, message_id: str | None) -> CommandResult:
    """One message's refusal, as its own result among its chat's."""
    return CommandResult(
        success=False, chat_id=chat_id, message_id=message_id,
        error=CommandError(code=error.code, message=error.message, details=error.details,
                           recovery_hint=error.recovery_hint),
    )  # fmt: skip
