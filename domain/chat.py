"""The Chat aggregate: one conversation, whose event stream is its audit trail and a hash chain."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, ClassVar

from eventsourcing.domain import (
    BaseAggregate,
    CanInitAggregate,
    CanMutateAggregate,
    CanSnapshotAggregate,
    MetaDomainEvent,
)
from eventsourcing.utils import get_topic

from chatledger.domain.chain import GENESIS_HASH, chain_hash
from chatledger.domain.topics import register_topics_before_the_package


class ChatEvent(CanMutateAggregate[str], metaclass=MetaDomainEvent):
    """Every chat event is a link of the chat's hash chain."""

    # eventsourcing's default, stated: its mapper looks this up on every event it decodes, and
    # a class attribute that is not there costs an exception each time (2% of a rebuild).
    class_version: ClassVar[int] = 1

    originator_id: str
    originator_version: int
    timestamp: datetime
    prev_hash: str
    hash: str


class ChatSnapshot(CanSnapshotAggregate[str], metaclass=MetaDomainEvent):
    originator_id: str
    originator_version: int
    timestamp: datetime
    topic: str
    state: dict[str, Any]


class Chat(BaseAggregate[str]):
    """State stays small: owner, counters, open streams, ids for idempotency and the chain head."""

    Snapshot: ClassVar[type[ChatSnapshot]] = ChatSnapshot

    class Event(ChatEvent):
        pass

    class Started(Event, CanInitAggregate[str]):
        originator_topic: str
        owner_id: str
        title: str | None
        model: str | None
        pipeline_version: str

        def apply(self, chat: Chat) -> None:
            chat.chain_head = self.hash

    class MessageEvent(Event):
        """An event about one message of the chat, named by `message_id`."""

        # The chat-format role of the message (system, developer, user, assistant, tool).
        role: ClassVar[str] = "assistant"
        message_id: str

        def apply(self, chat: Chat) -> None:
            chat.chain_head = self.hash

    class UserMessageRecorded(MessageEvent):
        role: ClassVar[str] = "user"
        user_id: str
        idempotency_key: str | None
        content: str
        intent: dict[str, Any]
        context: dict[str, list[str]]
        tokens: dict[str, Any]
        processing_ms: float
        metadata: dict[str, Any]
        pipeline_version: str
        # Sealed canonical JSON ("" for none). Events recorded before it existed lack it:
        # they read this default, and their hashes (over the stored fields) still hold.
        personal_metadata: str = ""
        # Content sent as parts (content_parts.recorded_parts): `content` holds their text.
        parts: list[dict[str, Any]] | None = None
        name: str | None = None  # the participant's name, where the chat format gives one

        def apply(self, chat: Chat) -> None:
            super().apply(chat)
            chat.remember(self.message_id, self.idempotency_key, self.originator_version)

    class AssistantMessageRecorded(MessageEvent):
        user_id: str
        idempotency_key: str | None
        content: str
        intent: dict[str, Any] | None
        context: dict[str, list[str]]
        model: str | None
        temperature: float | None
        tokens: dict[str, Any]
        usage: dict[str, Any] | None
        generation_ms: float | None
        processing_ms: float
        error_code: str | None
        error_message: str | None
        metadata: dict[str, Any]
        pipeline_version: str
        personal_metadata: str = ""
        parts: list[dict[str, Any]] | None = None
        name: str | None = None
        # Request parameters and response facts (generation_facts), none before they existed.
        provider: str | None = None
        top_p: float | None = None
        max_tokens: int | None = None
        seed: int | None = None
        tool_calls: list[dict[str, Any]] | None = None  # arguments sealed like content
        finish_reasons: list[str] | None = None
        response_id: str | None = None
        response_model: str | None = None
        refusal: str | None = None  # sealed
        # The reply's place in the conversation (conversation_keys): when a client sends these
        # words back in its next call's history, they are known as this reply.
        conversation_key: str | None = None

        def apply(self, chat: Chat) -> None:
            super().apply(chat)
            chat.remember(self.message_id, self.idempotency_key, self.originator_version)
            chat.remember_place(self.conversation_key, self.message_id)

    class StreamOpened(MessageEvent):
        user_id: str
        idempotency_key: str | None
        intent: dict[str, Any] | None
        context: dict[str, list[str]]
        model: str | None
        temperature: float | None
        metadata: dict[str, Any]
        pipeline_version: str
        personal_metadata: str = ""
        provider: str | None = None
        top_p: float | None = None
        max_tokens: int | None = None
        seed: int | None = None

        def apply(self, chat: Chat) -> None:
            super().apply(chat)
            chat.remember(self.message_id, self.idempotency_key, self.originator_version)
            chat.open_streams[self.message_id] = self.timestamp.isoformat()

    class StreamCompleted(MessageEvent):
        # Who and when the stream was opened: read models attribute the reply to its opening.
        user_id: str
        opened_at: str
        content: str
        tokens: dict[str, Any]
        usage: dict[str, Any] | None
        first_chunk_ms: float | None
        duration_ms: float
        chunk_count: int
        processing_ms: float
        error_code: str | None
        error_message: str | None
        metadata: dict[str, Any]
        personal_metadata: str = ""
        tool_calls: list[dict[str, Any]] | None = None
        finish_reasons: list[str] | None = None
        response_id: str | None = None
        response_model: str | None = None
        refusal: str | None = None
        # The model the reply was asked of (its encoding counted the tokens): statistics of
        # a completion by model need no look-up of the stream's opening.
        model: str | None = None
        conversation_key: str | None = None  # as for AssistantMessageRecorded

        def apply(self, chat: Chat) -> None:
            super().apply(chat)
            del chat.open_streams[self.message_id]
            chat.remember(self.message_id, None, self.originator_version)
            chat.remember_place(self.conversation_key, self.message_id)

    class StreamFailed(MessageEvent):
        """A stream that ended in an error, or was abandoned and reaped (STREAM_ABANDONED)."""

        user_id: str
        opened_at: str
        content: str
        first_chunk_ms: float | None
        duration_ms: float | None
        chunk_count: int
        error_code: str
        error_message: str | None
        metadata: dict[str, Any]
        personal_metadata: str = ""

        def apply(self, chat: Chat) -> None:
            super().apply(chat)
            del chat.open_streams[self.message_id]
            chat.remember(self.message_id, None, self.originator_version)

    class PromptMessage(MessageEvent):
        """What system, developer and tool messages share; only its subclasses are recorded."""

        user_id: str
        idempotency_key: str | None
        content: str
        parts: list[dict[str, Any]] | None
        name: str | None
        tokens: dict[str, Any]
        processing_ms: float
        metadata: dict[str, Any]
        pipeline_version: str
        personal_metadata: str

        def apply(self, chat: Chat) -> None:
            super().apply(chat)
            chat.remember(self.message_id, self.idempotency_key, self.originator_version)

    class SystemMessageRecorded(PromptMessage):
        """Instructions the application gave the model."""

        role: ClassVar[str] = "system"

    class DeveloperMessageRecorded(PromptMessage):
        """Instructions of the developer role (OpenAI's successor of system for some models)."""

        role: ClassVar[str] = "developer"

    class ToolMessageRecorded(PromptMessage):
        """What a tool returned, answering the assistant's tool call `tool_call_id`."""

        role: ClassVar[str] = "tool"
        tool_call_id: str

    def __init__(self, owner_id: str, title: str | None, model: str | None) -> None:
        self.owner_id = owner_id
        self.title = title
        self.model = model
        self.chain_head = GENESIS_HASH
        # message id -> version of its latest event; idempotency key -> message id.
        self.message_versions: dict[str, int] = {}
        self.idempotency_keys: dict[str, str] = {}
        # message id of an open stream -> when it was opened (ISO text, so snapshots stay JSON).
        self.open_streams: dict[str, str] = {}

    @classmethod
    def start(
        cls,
        chat_id: str,
        owner_id: str,
        title: str | None,
        model: str | None,
        pipeline_version: str,
    ) -> Chat:
        fields: dict[str, Any] = {
            "originator_topic": get_topic(cls),
            "owner_id": owner_id,
            "title": title,
            "model": model,
            "pipeline_version": pipeline_version,
        }
        sealed = link_event(cls.Started, chat_id, cls.INITIAL_VERSION, GENESIS_HASH, fields)
        sealed.pop("originator_topic")  # _create() sets it again, to the same value
        return cls._create(cls.Started, id=chat_id, **sealed)

    def trigger_event(self, event_class: type[CanMutateAggregate[str]], **kwargs: Any) -> None:
        sealed = link_event(event_class, self.id, self.version + 1, self.chain_head, kwargs)
        super().trigger_event(event_class, **sealed)

    def remember(self, message_id: str, idempotency_key: str | None, version: int) -> None:
        self.message_versions[message_id] = version
        if idempotency_key is not None:
            self.idempotency_keys[idempotency_key] = message_id

    def remember_place(self, conversation_key: str | None, message_id: str) -> None:
        """A reply's place is an alias: the first reply there keeps it, and a later one (the
        same prompt asked again) is recorded all the same."""
        if conversation_key is not None:
            self.idempotency_keys.setdefault(conversation_key, message_id)

    def recorded_version(self, message_id: str | None, idempotency_key: str | None) -> int | None:
        """The version of the latest event of this message id or idempotency key."""
        if idempotency_key is not None and idempotency_key in self.idempotency_keys:
            return self.message_versions[self.idempotency_keys[idempotency_key]]
        if message_id is not None:
            return self.message_versions.get(message_id)
        return None

    def __deepcopy__(self, memo: dict[int, Any]) -> Chat:
        # The repository copies cached chats for every command. The values inside the state's
        # dicts are immutable, so copying the containers is a full copy, at a fraction of the
        # cost of a generic deepcopy on long chats.
        clone = object.__new__(type(self))
        clone.__dict__.update(
            {k: v.copy() if isinstance(v, dict | list) else v for k, v in self.__dict__.items()}
        )
        return clone


def link_event(
    event_class: type[Any], chat_id: str, version: int, prev_hash: str, fields: dict[str, Any]
) -> dict[str, Any]:
    """Fix the event's timestamp and link it to the chain: add `prev_hash` and `hash`."""
    timestamp = fields.get("timestamp") or event_class.create_timestamp()
    # A field left to its default is in the event all the same: the hash must cover it.
    linked = {**defaults(event_class), **fields, "timestamp": timestamp, "prev_hash": prev_hash}
    identity = {"originator_id": chat_id, "originator_version": version}
    return {**linked, "hash": chain_hash(event_class.__qualname__, {**identity, **linked})}


def defaults(event_class: type[Any]) -> dict[str, Any]:
    """The event's fields that have a default (fields added after events were recorded);
    looked up once per class, and read-only (spread into a new dict)."""
    found = _DEFAULTS.get(event_class)
    if found is None:
        found = _DEFAULTS[event_class] = {
            f.name: f.default
            for f in dataclasses.fields(event_class)
            if f.default is not dataclasses.MISSING
        }
    return found


_DEFAULTS: dict[type[Any], dict[str, Any]] = {}


register_topics_before_the_package(ChatEvent, ChatSnapshot, Chat)
