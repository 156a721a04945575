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
from chatledger.projections.row_check import ChatRowCheck, RowMismatch
from chatledger.projections.row_scan import LogRowScan

PAGE = 2000


@dataclass
class VerifyReport:
    events: int = 0
    chats: int = 0
    broken: list[BrokenLink] = field(default_factory=list)
    mismatches: list[RowMismatch] = field(default_factory=list)  # read model rows

    @property
    def intact(self) -> bool:
        return not self.broken and not self.mismatches


class VerifyResult(CommandResult):
    """A verification as a command's result: the chains' report, or a coded error."""

    intact: bool = False
    events: int = 0
    chats: int = 0
    broken: list[BrokenLink] = Field(default_factory=list)
    mismatches: list[RowMismatch] = Field(default_factory=list)


class ChainVerifier:
    """Reads the stored events (not a read model: those could have been altered too) in log
    order, following each chat's chain; reports the first broken link of each chat. With
    `rows`, also each row of the read models that does not say what its event says.

    What it proves without a checkpoint: every event present is unaltered and in its place. What
    it cannot see without one: the last events of a chat removed whole (the chain simply ends).
    """

    def __init__(self, application: Application[Any], rows: ChatRowCheck | None = None) -> None:
        self.application = application
        self.rows = rows
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
            report.mismatches = self.rows.mismatches(chat_id) if self.rows else []
            return report
        report, head, position = VerifyReport(), self.application.recorder.max_notification_id(), 0
        followers: dict[str, ChainFollower] = {}
        scan = LogRowScan(self.rows) if self.rows else None
        while page := self.application.recorder.select_notifications(position + 1, PAGE):
            events: dict[int, Any] = {}
            self.check(page, report, followers, events)
            position = page[-1].id
            if scan:
                scan.scan(events, position)
            if progress:
                progress(position, max(position, head or 0))
        report.mismatches = scan.mismatches() if scan else []
        return report

    def check(
        self,
        stored: Any,
        report: VerifyReport,
        followers: dict[str, ChainFollower] | None = None,
        events: dict[int, Any] | None = None,
    ) -> VerifyReport:
        """Follow the chains through `stored`; `events` gets each notification's event by its
        position, None from a chat's first broken link on (its rows are not checked)."""
        followers = {} if followers is None else followers
        broken_chats = {link.chat_id for link in report.broken}
        for record in stored:
            report.events += 1
            chat_id = str(record.originator_id)
            event = None
            if chat_id not in broken_chats:  # the first broken link of a chat is what matters
                follower = followers.get(chat_id)
                if follower is None:
                    follower = followers[chat_id] = ChainFollower(chat_id)
                    report.chats += 1
                event, link = self.check_record(follower, record)
                if link:
                    report.broken.append(link)
                    broken_chats.add(chat_id)
                    event = None
            if events is not None and isinstance(record, Notification):
                events[record.id] = event
        return report

    def check_record(
        self, follower: ChainFollower, record: StoredEvent | Notification
    ) -> tuple[Any, BrokenLink | None]:
        try:
            event = self.application.mapper.to_domain_event(record)
        except Exception as error:  # bytes that are not an event any more
            version = record.originator_version
            self.damage.record_unreadable(follower.chat_id, version, failure_reason(error))
            return None, BrokenLink(follower.chat_id, version, "undecodable",
                                    "a decodable event", type(error).__name__)  # fmt: skip
        return event, follower.check(event)
