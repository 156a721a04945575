"""Quarantine: an event that a projection cannot decode or apply is recorded here and skipped,
so that one damaged event leaves every other chat readable; its chat is shown as damaged. An
event found unreadable after a read model applied it is recorded here too (found_damage).

A rebuild starts a generation with an empty quarantine: an event repaired or restored since
(decodable again) is applied then."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from eventsourcing.persistence import Notification
from pydantic import BaseModel, Field

from chatledger.domain.unreadable_events import failure_reason, printable

log = structlog.get_logger("chatledger.projections")


@dataclass(frozen=True)
class QuarantinedEvent:
    projection: str
    position: int
    chat_id: str
    version: int
    topic: str
    reason: str
    quarantined_at: str

    def staged(self) -> tuple[Any, ...]:
        """The plain values a view writes (and a rebuild's worker sends), in column order."""
        return (self.position, self.chat_id, self.version, self.topic, self.reason,
                self.quarantined_at)  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


class DamagedEvent(BaseModel):
    """An event of a damaged chat, as answers about the chat name it."""

    version: int
    position: int | None = None  # in the log, where a read model quarantined it
    reason: str
    projections: list[str] = Field(default_factory=list)  # the read models that skipped it


class DamagedChat(BaseModel):
    chat_id: str
    events: list[DamagedEvent]

    def warning(self) -> str:
        versions = ", ".join(str(event.version) for event in self.events)
        return (f"chat {self.chat_id} is damaged: its event(s) at version {versions} cannot be "
                "read back from the store")  # fmt: skip


def quarantined(projection: str, notification: Notification, error: Exception) -> QuarantinedEvent:
    """The record of an event skipped, logged without anything the event says."""
    event = QuarantinedEvent(
        projection=projection,
        position=notification.id,
        chat_id=printable(str(notification.originator_id)),
        version=notification.originator_version,
        topic=printable(notification.topic),
        reason=failure_reason(error),
        quarantined_at=datetime.now(UTC).isoformat(),
    )
    log.warning(
        "event_quarantined",
        projection=projection,
        position=event.position,
        chat_id=event.chat_id,
        version=event.version,
        error_type=type(error).__name__,
    )
    return event
