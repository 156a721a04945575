"""The PostgreSQL event store, failing fast.

eventsourcing retries an operational error ten times, 0.2 s apart, inside each recorder call: a
lock timeout or a stopped server would hold one persist for ten times its timeout. ChatLedger
tries once and returns PERSISTENCE_ERROR at once; its commands are idempotent, so the client's
retry (or the next message) is the retry.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresFactory,
)


class FailFastAggregateRecorder(PostgresAggregateRecorder):
    """Snapshots: read once, write once."""

    def insert_events(self, *args: Any, **kwargs: Any) -> Any:
        return PostgresAggregateRecorder.insert_events.__wrapped__(self, *args, **kwargs)

    def select_events(self, *args: Any, **kwargs: Any) -> Any:
        return PostgresAggregateRecorder.select_events.__wrapped__(self, *args, **kwargs)


class FailFastApplicationRecorder(PostgresApplicationRecorder):
    """Events: read once, write once."""

    def insert_events(self, *args: Any, **kwargs: Any) -> Any:
        return PostgresApplicationRecorder.insert_events.__wrapped__(self, *args, **kwargs)

    def select_events(self, *args: Any, **kwargs: Any) -> Any:
        return PostgresAggregateRecorder.select_events.__wrapped__(self, *args, **kwargs)

    def select_notifications(self, *args: Any, **kwargs: Any) -> Any:
        return PostgresApplicationRecorder.select_notifications.__wrapped__(self, *args, **kwargs)

    def max_notification_id(self) -> Any:
        return PostgresApplicationRecorder.max_notification_id.__wrapped__(self)


class FailFastPostgresFactory(PostgresFactory):
    aggregate_recorder_class = FailFastAggregateRecorder
    application_recorder_class = FailFastApplicationRecorder
