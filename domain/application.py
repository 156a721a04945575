"""The machinery every pipeline command shares: load and check the chat, decide, save, retry."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar, TypeVar
from uuid import uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, InterfaceError, Mapper, OperationalError
from eventsourcing.utils import EnvType

from chatledger.domain.boundary import CommandRun, loggable_id, run_command
from chatledger.domain.chat import Chat, ChatEvent
from chatledger.domain.chat_cache import CheckedChatCache
from chatledger.domain.errors import ChatLedgerError, ErrorCode
from chatledger.domain.group_commit import ChatLocks, GroupCommit
from chatledger.domain.intent import KeywordIntentDetector
from chatledger.domain.messages import CommandResult, MessageIds, TokenSummary
from chatledger.domain.personal_metadata import seal_personal_metadata
from chatledger.domain.ports import (
    CommandObserver,
    ContentProtector,
    DamageRecorder,
    IntentDetector,
    NoDamageRecord,
    NullObserver,
    PlaintextContent,
    TokenCounter,
    title_binding,
)
from chatledger.domain.sealed_fields import opened_content, opened_title
from chatledger.domain.unreadable_events import (
    CheckedMapper,
    chat_damage,
    first_unreadable,
    is_unreadable,
)

PIPELINE_VERSION = "chatledger/0.1.0"
R = TypeVar("R", bound=CommandResult)


class ChatApplication(Application[str]):
    """The event-sourced application behind the pipeline: chats are aggregates with text ids."""

    env: ClassVar[dict[str, str]] = {
        "ORIGINATOR_ID_TYPE": "text",
        "AGGREGATE_CACHE_MAXSIZE": "1000",
        "IS_SNAPSHOTTING_ENABLED": "y",
        # A cached chat serves while the store's rows are those it stands for (chat_cache),
        # which one query of digests tells: a chat that another process changed meanwhile is
        # folded again from the store. One changed between that query and the append can only
        # fail to append (its next version is taken): append() then decides again.
        "AGGREGATE_CACHE_FASTFORWARD": "n",
    }
    snapshot_interval = 200
    max_attempts = 30

    def __init__(
        self,
        env: EnvType | None = None,
        *,
        token_counter: TokenCounter,
        intent_detector: IntentDetector | None = None,
        observer: CommandObserver | None = None,
        protector: ContentProtector | None = None,
        clock: Callable[[], float] = time.perf_counter,
        damage_recorder: DamageRecorder | None = None,
    ) -> None:
        super().__init__(env)
        self.chats = CheckedChatCache(self)
        self.damage_recorder: DamageRecorder = damage_recorder or NoDamageRecord()
        # Content is sealed under its owner's key before an event exists, so that the event,
        # its hash and every copy hold ciphertext (bootstrap wires AES-GCM keys per user).
        self.protector: ContentProtector = protector or PlaintextContent()
        self.chat_locks = ChatLocks()
        self.group_commit = GroupCommit(
            self.chats.recording(self.events.put), (OperationalError, InterfaceError)
        )
        self.token_counter = token_counter
        self.clock = clock  # what a message's processing_ms is measured with
        self.intent_detector = intent_detector or KeywordIntentDetector()
        self.observer = observer or NullObserver()

    def construct_mapper(self) -> Mapper[str]:
        return self.factory.mapper(
            transcoder=self.construct_transcoder(), mapper_class=CheckedMapper
        )

    # -- the command skeleton -------------------------------------------------------------

    def _command(
        self,
        name: str,
        fields: dict[str, Any],
        action: Callable[[CommandRun], R],
        result: type[R],
        *,
        writes: bool = True,
    ) -> R:
        run = CommandRun(
            command=name,
            chat_id=loggable_id(fields.get("chat_id")),
            user_id=loggable_id(fields.get("user_id")),
            message_id=loggable_id(fields.get("message_id")),
            writes=writes,
        )
        return run_command(self.observer, run, action, result)

    def load_owned_chat(self, chat_id: str, user_id: str, *, taken: bool = False) -> Chat:
        """The chat as stored (chat_cache), if `user_id` owns it: a copy of the cached one, or
        with `taken` (a command holding the chat's lock) the cached chat itself, out of the
        cache until it is saved and put back, so that nobody copies or reads it half-changed.
        No copy per command: copying a long chat's message index cost more than deciding its
        next message."""
        try:
            chat = self.chats.load(chat_id, taken=taken)
        except AggregateNotFoundError:
            raise ChatLedgerError(
                ErrorCode.CHAT_NOT_FOUND, "no chat with this id", {"chat_id": chat_id}
            ) from None
        except Exception as error:
            if not is_unreadable(error):
                raise
            raise self.found_damaged(chat_id, user_id, error) from None
        if chat.owner_id != user_id:
            if taken:
                self.remember_saved(chat)
            raise ChatLedgerError(
                ErrorCode.UNAUTHORIZED,
                "this chat belongs to another user",
                {"chat_id": chat_id},  # as CHAT_NOT_FOUND: the two differ only in code
            )
        return chat

    def found_damaged(self, chat_id: str, user_id: str, error: Exception) -> ChatLedgerError:
        """The error for a chat whose events cannot be loaded. The event found unreadable is
        recorded, whoever asked: answers that decode no events (the read models') name it."""
        unreadable = first_unreadable(self, chat_id)
        if unreadable is not None:
            self.damage_recorder.record_unreadable(chat_id, unreadable.version, unreadable.reason)
        return chat_damage(self, chat_id, user_id, error, unreadable)

    def append(
        self,
        run: CommandRun,
        ids: MessageIds,
        decide: Callable[[Chat], CommandResult],
        *,
        erased_too: bool = False,
    ) -> CommandResult:
        """Load the chat, decide, save; on a concurrent append to the same chat, reload and retry.

        `ids` are validated; `decide` triggers the new events on the chat, or returns without
        any (a duplicate). Nothing is recorded for an erased user (USER_ERASED), unless
        `erased_too` (the reaper closing a stream the user left open: no content).
        """
        run.chat_id, run.user_id = ids.chat_id, ids.user_id
        # Threads of this process take turns per chat, so only other processes can conflict.
        with self.chat_locks.holding(ids.chat_id):
            for attempt in range(1, self.max_attempts + 1):
                run.attempts = attempt
                chat = self.load_owned_chat(ids.chat_id, ids.user_id, taken=True)
                loaded_version = chat.version
                try:
                    if not erased_too:
                        self.protector.ensure_writable(chat.owner_id)
                    result = decide(chat)
                finally:
                    if not chat.pending_events:  # unchanged: back into the cache
                        self.remember_saved(chat)
                if not chat.pending_events:
                    return result
                try:
                    with run.storing():
                        self.commit(chat)  # puts the saved chat back into the cache
                except IntegrityError:
                    # Another process appended first: back off with jitter, decide again on the
                    # chat as stored (this one holds the refused events; it is not cached).
                    time.sleep(random.uniform(0, min(0.1, 0.002 * 2**attempt)))
                    self.forget(chat.id)  # a reader may have cached an older version meanwhile
                    continue
                self.snapshot_if_due(chat, loaded_version)
                result.version = chat.version
                return result
        raise ChatLedgerError(
            ErrorCode.CONFLICT,
            f"chat stayed contended for {self.max_attempts} attempts",
            {"chat_id": ids.chat_id},
        )

    def forget(self, chat_id: str) -> None:
        """Drop a chat from the cache, so that the next load reads the store."""
        self.chats.forget(chat_id)

    def snapshot_if_due(self, chat: Chat, saved_from: int) -> None:
        # Taken here rather than by eventsourcing's automatic snapshotting, so that a failed
        # snapshot (an optimisation) cannot turn an already recorded message into an error.
        interval = self.snapshot_interval
        if self.snapshots is None or chat.version // interval == saved_from // interval:
            return  # no multiple of the interval passed in this save
        # From the chat in hand, which is exactly the saved version: no replay of its events.
        with contextlib.suppress(Exception):
            self.snapshots.put([Chat.Snapshot.take(chat)])
            self.chats.snapshotted(chat.id, chat.version)

    def recorded_event(self, chat: Chat, version: int) -> ChatEvent:
        for pending in chat.pending_events:  # decided earlier in this command, not yet saved
            if pending.originator_version == version:
                assert isinstance(pending, ChatEvent)
                return pending
        (event,) = self.events.get(chat.id, gt=version - 1, lte=version)
        assert isinstance(event, ChatEvent)
        return event

    # -- queries that every command shares --------------------------------------------------

    def count_tokens(self, text: str, model: str | None, warnings: list[str]) -> TokenSummary:
        counted = self.token_counter.count(text, model)
        if not counted.exact_model:
            warnings.append(
                f"model {model!r} is unknown to the tokenizer; tokens were counted with "
                f"{counted.encoding}"
            )
        return TokenSummary(
            count=counted.count, encoding=counted.encoding, exact_model=counted.exact_model
        )

    def elapsed_ms(self, started: float) -> float:
        """Milliseconds on the pipeline's clock since `started`, a reading of it."""
        return round((self.clock() - started) * 1000.0, 3)

    def commit(self, chat: Chat) -> None:
        """Record the chat's new events, in a transaction shared with concurrent callers."""
        self.group_commit.commit(chat.collect_events())
        self.remember_saved(chat)

    def remember_saved(self, chat: Chat) -> None:
        """Keep a just-saved chat in the cache: the next command needs no fold of its events."""
        self.chats.put(chat)

    def save_new(self, chat: Chat) -> bool:
        """Save a newly started chat; False when another writer started it first."""
        try:
            self.commit(chat)
        except IntegrityError:
            return False
        return True

    def find_duplicate(
        self,
        chat: Chat,
        ids: MessageIds | str,
        expected: type[ChatEvent] | tuple[type[ChatEvent], ...],
        content: str | None,
        fingerprint: list[tuple[str, str | None]] | None = None,
    ) -> CommandResult | None:
        """The original result, when this message id or idempotency key was recorded before.

        The same id with a different message (another role, text, or parts by type and hash)
        is a CONFLICT, never a silent overwrite.
        """
        if isinstance(ids, str):
            version = chat.recorded_version(ids, None)
        else:
            version = chat.recorded_version(ids.message_id, ids.idempotency_key)
        if version is None:
            return None
        original = self.recorded_event(chat, version)
        same_content = content is None or (
            self.content_of(original) == content
            and fingerprint == recorded_fingerprint(getattr(original, "parts", None))
        )
        if not (isinstance(original, expected) and same_content):
            raise ChatLedgerError(
                ErrorCode.CONFLICT,
                "this message id or idempotency key already names a different message",
                {"chat_id": chat.id, "version": version},
            )
        tokens = getattr(original, "tokens", None)
        return CommandResult(
            success=True,
            chat_id=chat.id,
            message_id=getattr(original, "message_id", None),
            version=version,
            tokens=TokenSummary(**tokens) if tokens else None,
            duplicate=True,
            warnings=[f"already recorded at version {version}; nothing was recorded again"],
        )

    def content_of(self, event: ChatEvent) -> str | None:
        return (
            None
            if getattr(event, "content", None) is None
            else opened_content(event, self.protector)
        )

    def sealed_title(self, owner_id: str, chat_id: str, title: str | None) -> str | None:
        """Titles say what a chat is about, in the user's words: sealed like content."""
        return (
            None if title is None else self.protector.seal(owner_id, title, title_binding(chat_id))
        )

    def sealed_metadata(self, chat: Chat, message_id: str, personal: dict[str, Any]) -> str:
        """Personal metadata goes with the chat owner's key, as the message's content does."""
        return seal_personal_metadata(self.protector, chat.owner_id, chat.id, message_id, personal)

    def title_of(self, started: Chat.Started) -> str | None:
        return opened_title(started, self.protector)

    def close(self) -> None:
        super().close()
        self.protector.close()
        self.damage_recorder.close()


def recorded_fingerprint(parts: list[dict[str, Any]] | None) -> list[tuple[str, str | None]] | None:
    return None if parts is None else [(p["type"], p.get("sha256")) for p in parts]


def new_message_id() -> str:
    return f"msg_{uuid4().hex}"


def utc_now() -> datetime:
    return Chat.Event.create_timestamp()
