"""A data subject: a user whose content can be erased. Its stream records the erasure (who asked,
when, why, what it found), hash-chained like a chat's, so that `verify` covers it too."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import BaseAggregate, CanInitAggregate
from eventsourcing.utils import get_topic

from chatledger.domain.chain import GENESIS_HASH
from chatledger.domain.chat import ChatEvent, link_event
from chatledger.domain.topics import register_topics_before_the_package

# "!" cannot start a chat id, so a subject's stream never shares an id with a chat.
SUBJECT_PREFIX = "!subject:"


def subject_id(user_id: str) -> str:
    return f"{SUBJECT_PREFIX}{user_id}"


class DataSubject(BaseAggregate[str]):
    class Event(ChatEvent):
        pass

    class Erased(Event, CanInitAggregate[str]):
        """The user's key was destroyed: their content can no longer be read by anyone."""

        originator_topic: str
        user_id: str
        requested_by: str
        reason: str
        key: str  # destroyed | no_key | already_erased (KeyDestruction)
        chats: int
        # Events of the user's chats that held content, a title or personal metadata.
        content_events: int
        legacy_plaintext_events: int  # of those, stored before encryption: still plaintext
        pipeline_version: str

        def apply(self, subject: DataSubject) -> None:
            subject.chain_head = self.hash

    def __init__(
        self,
        user_id: str,
        requested_by: str,
        key: str,
        chats: int,
        content_events: int,
        legacy_plaintext_events: int,
    ) -> None:
        self.user_id = user_id
        self.requested_by = requested_by
        self.key = key
        self.chats = chats
        self.content_events = content_events
        self.legacy_plaintext_events = legacy_plaintext_events
        self.chain_head = GENESIS_HASH

    @classmethod
    def erase(cls, user_id: str, **fields: Any) -> DataSubject:
        sealed = link_event(
            cls.Erased, subject_id(user_id), cls.INITIAL_VERSION, GENESIS_HASH,
            {"originator_topic": get_topic(cls), "user_id": user_id, **fields},
        )  # fmt: skip
        sealed.pop("originator_topic")
        return cls._create(cls.Erased, id=subject_id(user_id), **sealed)


register_topics_before_the_package(DataSubject)
