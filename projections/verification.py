"""Verify: recompute every chat's hash chain from the stored events, in one pass over the log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import Notification, StoredEvent
from pydantic import Field

from chatledger.domain.chain import BrokenLink, ChainFollower
from chatledger.domain.errors import ChatLedgerError, ErrorCode
from chatledger.domain.messages import CommandResult
from chatledger.domain.ports import DamageRecorder, NoDamageRecord
from chatledger.domain.unreadable_events import failure_reason

PAGE = 2000


@dataclass
class VerifyReport:
    events: int = 0
    chats: int = 0
    broken: list[BrokenLink] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.broken


class VerifyResult(CommandResult):
    """A verification as a command's result: the chains' report, or a coded error."""

    intact: bool = False
    events: int = 0
    chats: int = 0
    broken: list[BrokenLink] = Field(default_factory=list)


class ChainVerifier:
    """Reads the stored events (not a read model: those could have been altered too) in log
    order, following each chat's chain; reports the first broken link of each chat.

    What it proves without a checkpoint: every event present is unaltered and in its place. What
    it cannot see without one: the last events of a chat removed whole (the chain simply ends).
    """

    def __init__(self, application: Application[Any]) -> None:
        self.application = application
        # Where an undecodable event is recorded for the answers that decode no events.
        self.damage: DamageRecorder = getattr(application, "damage_recorder", NoDamageRecord())

    def verify(
        self, chat_id: str | None = None, progress: Callable[[int, int], None] | None = None
    ) -> VerifyReport:
        """Every chat, or one: a chat with no stored event is CHAT_NOT_FOUND, not intact."""
        if chat_id is not None:
            report = self.check(self.application.recorder.select_events(chat_id), VerifyReport())
            if report.chats == 0:
                raise ChatLedgerError(
                    ErrorCode.CHAT_NOT_FOUND, "no chat with this id", {"chat_id": chat_id}
                )
            return report
        report, head, position = VerifyReport(), self.application.recorder.max_notification_id(), 0
        followers: dict[str, ChainFollower] = {}
        while page := self.application.recorder.select_notifications(position + 1, PAGE):
            self.check(page, report, followers)
            position = page[-1].id
            if progress:
                progress(position, max(position, head or 0))
        return report

    def check(
        self,
        stored: Any,
        report: VerifyReport,
        followers: dict[str, ChainFollower] | None = None,
    ) -> VerifyReport:
        followers = {} if followers is None else followers
        broken_chats = {link.chat_id for link in report.broken}
        for record in stored:
            report.events += 1
            chat_id = str(record.originator_id)
            if chat_id in broken_chats:
                continue  # the first broken link of a chat is what matters
            follower = followers.get(chat_id)
            if follower is None:
                follower = followers[chat_id] = ChainFollower(chat_id)
                report.chats += 1
            link = self.check_record(follower, record)
            if link:
                report.broken.append(link)
                broken_chats.add(chat_id)
        return report

    def check_record(
        self, follower: ChainFollower, record: StoredEvent | Notification
    ) -> BrokenLink | None:
        try:
            event = self.application.mapper.to_domain_event(record)
        except Exception as error:  # bytes that are not an event any more
            version = record.originator_version
            self.damage.record_unreadable(follower.chat_id, version, failure_reason(error))
            return BrokenLink(follower.chat_id, version, "undecodable", "a decodable event",
                              type(error).__name__)  # fmt: skip
        return follower.check(event)
