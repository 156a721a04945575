"""Read model rows against the events they describe. A row of the audit index or of the messages
table says which event it stands for (its position, chat and version) and what that event holds
(user, message id, type or role, hash); a row altered in the database would otherwise be shown
as fact. Each row is compared with the event at its position, field by field, and each event
that the read model has applied must have its row. One chat at a time: `verify --chat`, the
console's proof page, and every chat that the whole-log scan (row_scan.py) finds suspect."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import Application

from chatledger.domain.chat import Chat
from chatledger.domain.unreadable_events import UnreadableEvent, readable_events
from chatledger.projections.changes import audit_entry
from chatledger.projections.views import (
    AuditFilter,
    AuditIndexView,
    MessageTableView,
    ReadModelView,
)

AUDIT_INDEX, MESSAGES = "audit_index", "messages"
PAGE = 1000
# The message events that create a row; the others (a stream's end) change the row of theirs.
CLOSING_EVENTS = (Chat.StreamCompleted, Chat.StreamFailed)
# What a messages row can stand for: a message event, or one that no longer reads.
MESSAGE_ROW_EVENTS = (Chat.MessageEvent, UnreadableEvent)


@dataclass(frozen=True)
class RowMismatch:
    """A read model row that does not say what its event says, like a broken link: the event
    (chat and version), the read model and column, what the event gives and what the row has.
    `field` is "row" for a row that is missing, or that stands for no event."""

    read_model: str
    chat_id: str
    version: int
    field: str
    expected: str
    found: str


def audit_claims(event: Any, position: int | None) -> dict[str, Any]:
    return audit_entry(event, position or 0)._asdict() | {"position": position}


def message_claims(event: Any, position: int | None) -> dict[str, Any]:
    """What a messages row says of the event that last changed it."""
    fields = vars(event)
    return {"chat_id": event.originator_id, "message_id": fields["message_id"],
            "user_id": fields["user_id"], "role": event.role,
            "version": event.originator_version, "event_hash": event.hash,
            "position": position}  # fmt: skip


CLAIMS: dict[str, Callable[[Any, int | None], dict[str, Any]]] = {
    AUDIT_INDEX: audit_claims,
    MESSAGES: message_claims,
}


def row_mismatches(
    read_model: str, row: Mapping[str, Any], event: Any, position: int | None
) -> list[RowMismatch]:
    """Each column of the row that is not what the event says; `position` is where the event
    is in the log (None: not where the row says)."""
    claims = CLAIMS[read_model](event, position)
    chat_id, version = str(event.originator_id), event.originator_version
    return [RowMismatch(read_model, chat_id, version, name, shown(value, name),
                        shown(row.get(name), name))
            for name, value in claims.items() if row.get(name) != value]  # fmt: skip


def missing_row(read_model: str, event: Any) -> RowMismatch:
    return RowMismatch(read_model, str(event.originator_id), event.originator_version, "row",
                       "a row for this event", "none")  # fmt: skip


def stray_row(read_model: str, row: Mapping[str, Any]) -> RowMismatch:
    found = f"a row at position {row.get('position')}"
    return RowMismatch(read_model, str(row.get("chat_id")), int(row.get("version") or 0), "row",
                       "no row: no such event", found)  # fmt: skip


def shown(value: Any, name: str = "") -> str:
    if value is None:  # a position of None: the event is not at the row's
        return "another event's position" if name == "position" else "null"
    return str(value)


class ChatRowCheck:
    """The rows of one chat in both read models, against the chat's stored events.

    A row is compared with the event at its position (found through the log, so that a row
    moved to another event's place is seen); an event the read model has applied (its position
    at or below the model's, or before a version the model has a row for) and did not
    quarantine must have a row. `positions` (version -> log position) may say where events are,
    which the log cannot tell by chat."""

    def __init__(
        self, application: Application[Any], audit: AuditIndexView, messages: MessageTableView
    ) -> None:
        self.application = application
        self.audit, self.messages = audit, messages
        self.views: dict[str, ReadModelView] = {AUDIT_INDEX: audit, MESSAGES: messages}
        self.located: dict[int, tuple[str, int] | None] = {}

    def mismatches(
        self, chat_id: str, positions: Mapping[int, int] | None = None
    ) -> list[RowMismatch]:
        # In this order: every event read is at or below `head`, and every row read is at
        # least as far as the models' positions.
        events = {event.version if isinstance(event, UnreadableEvent) else
                  event.originator_version: event
                  for event in readable_events(self.application, chat_id)}  # fmt: skip
        head = self.application.recorder.max_notification_id() or 0
        reached = {name: view.position(view.generations().current) or 0
                   for name, view in self.views.items()}  # fmt: skip
        found = [row for row in self.audit_rows(chat_id, events)
                 + self.message_rows(chat_id, events) if row is not None]  # fmt: skip
        applied = {name: self.applied(name, chat_id, reached[name] >= head,
                                      reached[name], positions or {}, found)
                   for name in self.views}  # fmt: skip
        readable = {v: e for v, e in events.items() if not isinstance(e, UnreadableEvent)}
        return [*found_mismatches(found), *missing_rows(readable, found, applied)]

    def audit_rows(self, chat_id: str, events: Mapping[int, Any]) -> list[FoundRow | None]:
        rows: list[FoundRow | None] = []
        after = 0
        while page := self.audit.entries(AuditFilter(chat_id=chat_id), after, PAGE):
            rows += [self.found(AUDIT_INDEX, entry._asdict(), chat_id, events) for entry in page]
            after = page[-1].position
        return rows

    def message_rows(self, chat_id: str, events: Mapping[int, Any]) -> list[FoundRow | None]:
        return [self.found(MESSAGES, row, chat_id, events)
                for row in self.messages.messages(chat_id)]  # fmt: skip

    def found(
        self, read_model: str, row: Mapping[str, Any], chat_id: str, events: Mapping[int, Any]
    ) -> FoundRow | None:
        """The row with the event it stands for: the one at its position, else the one of its
        version (then not where the row says), else none. None for a row not to be checked:
        of an event that does not read (verify names it), or recorded after `events`."""
        at_position = self.event_at(int(row["position"]))
        if at_position is not None and at_position[0] == chat_id:
            event = events.get(at_position[1])
            if event is None:
                return None  # recorded after the chat's events were read
            if read_model == AUDIT_INDEX or isinstance(event, MESSAGE_ROW_EVENTS):
                return checked(FoundRow(read_model, row, event, int(row["position"])))
        event = events.get(int(row["version"])) if row["chat_id"] == chat_id else None
        if event is None or (read_model == MESSAGES and not isinstance(event, MESSAGE_ROW_EVENTS)):
            return FoundRow(read_model, row, None, None)
        return checked(FoundRow(read_model, row, event, None))

    def event_at(self, position: int) -> tuple[str, int] | None:
        """Which event the log holds at a position (chat, version), if any."""
        if position not in self.located:
            page = self.application.recorder.select_notifications(position, 1, stop=position)
            self.located[position] = (
                (str(page[0].originator_id), page[0].originator_version) if page else None
            )
        return self.located[position]

    def applied(
        self,
        read_model: str,
        chat_id: str,
        caught_up: bool,
        reached: int,
        positions: Mapping[int, int],
        found: list[FoundRow],
    ) -> Callable[[int], bool]:
        """Whether the read model has applied (and not quarantined) the chat's event at a
        version; events past its position have no row yet."""
        view = self.views[read_model]
        skipped = {q.version for q in view.quarantined_events([chat_id], limit=1_000_000)}
        in_place = [f.event.originator_version for f in found
                    if f.read_model == read_model and f.position is not None]  # fmt: skip
        before = max(in_place, default=0)

        def has_applied(version: int) -> bool:
            if version in skipped:
                return False
            if version in positions:
                return positions[version] <= reached
            return caught_up or version < before

        return has_applied


def checked(found: FoundRow) -> FoundRow | None:
    """None for a row of an event that does not read: the chain's check names that event."""
    return None if isinstance(found.event, UnreadableEvent) else found


@dataclass(frozen=True)
class FoundRow:
    read_model: str
    row: Mapping[str, Any]
    event: Any  # the event it stands for, None when it stands for none
    position: int | None  # the event's position, when it is where the row says


def found_mismatches(found: Iterable[FoundRow]) -> list[RowMismatch]:
    mismatches = []
    for row in found:
        if row.event is None:
            mismatches.append(stray_row(row.read_model, row.row))
        else:
            mismatches += row_mismatches(row.read_model, row.row, row.event, row.position)
    return mismatches


def missing_rows(
    events: Mapping[int, Any], found: list[FoundRow], applied: Mapping[str, Callable[[int], bool]]
) -> list[RowMismatch]:
    """The applied events without a row: in the audit index every event has one; in the
    messages table every message has one, standing for its last applied event."""
    indexed = {f.event.originator_version for f in found
               if f.read_model == AUDIT_INDEX and f.event is not None}  # fmt: skip
    missing = [missing_row(AUDIT_INDEX, event) for version, event in sorted(events.items())
               if version not in indexed and applied[AUDIT_INDEX](version)]  # fmt: skip
    rows = {f.event.message_id: f for f in found
            if f.read_model == MESSAGES and f.event is not None}  # fmt: skip
    last: dict[str, Any] = {}
    for version, event in sorted(events.items()):
        if isinstance(event, Chat.MessageEvent) and applied[MESSAGES](version):
            last[event.message_id] = event
    for message_id, event in last.items():
        row = rows.get(message_id)
        if row is None:
            missing.append(missing_row(MESSAGES, event))
        elif row.event.originator_version < event.originator_version:
            missing.append(RowMismatch(MESSAGES, str(event.originator_id),
                                       event.originator_version, "version",
                                       str(event.originator_version),
                                       str(row.event.originator_version)))  # fmt: skip
    return missing
