"""Pages of the notification log as both event stores read them for every reader of the log
(catch-up, rebuild, verify, export): from a position on, up to another or not, no topics.
Each store's recorder mixes in ReadsPagesItself and says how it selects such a page.

eventsourcing's recorders look each row up by column name and make each Notification through
its frozen dataclass's __init__, which sets every field through object.__setattr__; the rows
here come as tuples, and each Notification is made as eventsourcing's mapper makes events. On
SQLite that took reading an event from 4.9 us to 2.3 us; on PostgreSQL, with the rows in
binary (bytea as bytes, not as hexadecimal text), from 9.8 us to 4.3 us. Other queries stay
eventsourcing's own (tests/test_log_pages.py compares the two).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

from eventsourcing.persistence import Notification

# (position, originator id, originator version, topic, state): the columns in this order.
StoredRow = tuple[int, str, int, str, bytes]

_new, _set = object.__new__, object.__setattr__  # bound once: used per event read


class ReadsPagesItself(ABC):
    """Mixed into an event store's application recorder, before eventsourcing's: pages come
    from `page_rows`, any other query from eventsourcing's own (`eventsourcings_query`)."""

    datastore: Any  # eventsourcing's, of the recorder this is mixed into
    # eventsourcing's select_notifications for the store (a function: called as a method).
    eventsourcings_query: ClassVar[Callable[..., Sequence[Notification]]]

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        # Ids kept as text: eventsourcing makes UUIDs of them where the store keeps UUIDs.
        text_ids = self.datastore.originator_id_type == "text"
        if start is None or topics or not inclusive_of_start or not text_ids:
            return self.eventsourcings_query(
                start, limit, stop, topics, inclusive_of_start=inclusive_of_start
            )
        return notifications(self.page_rows(start, limit, stop))

    @abstractmethod
    def page_rows(self, start: int, limit: int, stop: int | None) -> Iterable[StoredRow]:
        """The events from `start` on, up to `stop` if given, at most `limit`, as StoredRows."""


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
