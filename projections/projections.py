"""The three projections of chat events: the message table, the statistics, the audit index."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from chatledger.domain.chat import Chat, ChatEvent
from chatledger.domain.ports import ContentProtector
from chatledger.projections.changes import audit_entry, message_change
from chatledger.projections.rows import ContentErased
from chatledger.projections.stats import event_figures
from chatledger.projections.views import AuditIndexView, MessageTableView, StatsView

CHAT_EVENTS = (
    Chat.Started,
    Chat.UserMessageRecorded,
    Chat.AssistantMessageRecorded,
    Chat.StreamOpened,
    Chat.StreamCompleted,
    Chat.StreamFailed,
)


class MessageTableProjection(Projection[MessageTableView]):
    name = "messages"

    def __init__(self, view: MessageTableView, protector: ContentProtector) -> None:
        super().__init__(view)
        self.protector = protector

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        change = message_change(domain_event, tracking.notification_id, self.protector)
        if isinstance(change, ContentErased):
            # Whatever this process still keeps of the user's key goes now: the events after
            # this one must not be unsealed with it (another process destroyed it).
            self.protector.forget(change.user_id)
        self.view.stage(change, tracking)


class StatsProjection(Projection[StatsView]):
    name = "stats"

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.stage(event_figures(domain_event), tracking)


class AuditIndexProjection(Projection[AuditIndexView]):
    name = "audit"

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        assert isinstance(domain_event, ChatEvent)
        self.view.stage(audit_entry(domain_event, tracking.notification_id), tracking)


PROJECTIONS: dict[str, type[Projection[Any]]] = {
    p.name: p for p in (MessageTableProjection, StatsProjection, AuditIndexProjection)
}


def build_projection(view: Any, protector: ContentProtector) -> Projection[Any]:
    """The projection named as the view (its changes can also be staged elsewhere than in a
    ReadModelView: a rebuild's second process collects them to send)."""
    projection = PROJECTIONS[view.name]
    if projection is MessageTableProjection:
        return MessageTableProjection(view, protector)
    return projection(view=view)
