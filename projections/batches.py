"""What a view writes in one commit, staged event by event.

A batch keeps what a projection staged for a run of events and gives it back (`ready`) in the
form the view writes: plain tuples and lists of strings and numbers, no subclass of them.
Catch-up stages batches where the view is; a rebuild's workers (infrastructure/rebuild_worker.py)
stage them in other processes and send what `ready` gives, marshalled: the process that writes
runs no Python per event, it only inserts and commits.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from chatledger.projections.changes import closed_row
from chatledger.projections.rows import AuditEntry, ContentErased, MessageClosed, MessageRow
from chatledger.projections.stats import ALL_TIME, EventFigures, StatKey


class Batch(ABC):
    @abstractmethod
    def stage(self, change: Any) -> None:
        """Keep one event's change (None: the event changes nothing here)."""

    @abstractmethod
    def ready(self) -> Any:
        """What the view writes, as plain values (see the module's docstring)."""


# New rows, in MessageRow's column order; each stream closed here whose row an earlier batch
# wrote: its closing fields, then its chat_id and message_id; the users erased.
MessageWrites = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[str]]


class MessageBatch(Batch):
    def __init__(self) -> None:
        self.rows: list[MessageRow] = []
        # Where each message's row is in rows: a stream that opens and closes in the same
        # batch (most do, and every one in a rebuild) is inserted closed, never updated.
        self.row_index: dict[tuple[str, str], int] = {}
        self.closed: list[MessageClosed] = []
        self.erased_users: list[str] = []

    def stage(self, change: Any) -> None:
        if isinstance(change, MessageRow):
            self.row_index.setdefault((change.chat_id, change.message_id), len(self.rows))
            self.rows.append(change)
        elif isinstance(change, MessageClosed):
            index = self.row_index.get((change.chat_id, change.message_id))
            if index is None:
                self.closed.append(change)
            else:
                self.rows[index] = closed_row(self.rows[index], change)
        elif isinstance(change, ContentErased):
            self.erased_users.append(change.user_id)

    def ready(self) -> MessageWrites:
        # Exact tuples: sqlite3 binds them faster than a tuple subclass, and marshal takes
        # no subclass.
        return (
            [tuple(row) for row in self.rows],
            [(*closed[2:], closed.chat_id, closed.message_id) for closed in self.closed],
            self.erased_users,
        )


class StatBatch(Batch):
    """The counter deltas of a batch of events. Events are added up per (user, chat, hour)
    first and spread over the two scopes and two buckets once: a chat's events share those,
    so a batch spreads once per chat and hour instead of four times per figure of each event."""

    def __init__(self) -> None:
        self.by_origin: dict[tuple[str, str, str], dict[tuple[str, str], int]] = {}

    def stage(self, change: EventFigures | None) -> None:
        if change is None:
            return
        origin = (change.user_scope, change.chat_scope, change.hour)
        sums = self.by_origin.setdefault(origin, {})
        for metric, key, value in change.figures:
            sums[metric, key] = sums.get((metric, key), 0) + value

    def ready(self) -> list[tuple[str, str, str, str, int]]:
        """(scope, bucket, metric, key, delta) in key order, zero deltas left out."""
        totals: dict[StatKey, int] = {}
        for (user_scope, chat_scope, hour), sums in self.by_origin.items():
            for scope in (user_scope, chat_scope):
                for bucket in (ALL_TIME, hour):
                    for (metric, key), value in sums.items():
                        counter = (scope, bucket, metric, key)
                        totals[counter] = totals.get(counter, 0) + value
        return sorted((*counter, value) for counter, value in totals.items() if value)


class AuditBatch(Batch):
    def __init__(self) -> None:
        self.entries: list[tuple[Any, ...]] = []

    def stage(self, change: AuditEntry) -> None:
        self.entries.append(tuple(change))

    def ready(self) -> list[tuple[Any, ...]]:
        return self.entries
