"""Damage found in the store by a reader that decodes events (a load of a chat, which every
write and every answer about one chat makes; verify), recorded in the read models' quarantine.

A read model quarantines an event it cannot decode when it meets it; one damaged after a read
model applied it would never be met again, and answers from the read models (a user's
statistics, the chat list, the audit trail's X-Damaged-Chats, `chatledger status`, `/readyz`)
would say nothing of it until a rebuild. So whoever finds such an event records it, once for
each read model generation that had already applied it, as that generation's rebuild would have
quarantined it; a generation that has not reached it yet quarantines it itself. One record of
damage, read by every answer, whichever process found it. The database is opened at the first
damage found: nothing is paid while there is none.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from eventsourcing.persistence import PersistenceError

from chatledger.domain.unreadable_events import printable
from chatledger.infrastructure.read_store.sql_database import SqlDatabase
from chatledger.infrastructure.read_store.sql_read_model import QUARANTINE_COLUMNS

# Each backend's event table (of the application named "chatledger") and its position column.
EVENT_ROWS = {
    "sqlite": ("stored_events", "rowid"),
    "postgres": ("chatledger_events", "notification_id"),
}


class QuarantinedWhenFound:
    """The DamageRecorder of an application whose read models live beside its events."""

    def __init__(self, open_database: Callable[[], SqlDatabase]) -> None:
        self.open_database = open_database  # the process's shared read-model pool, as a rule
        self.database: SqlDatabase | None = None
        self.lock = threading.Lock()
        self.log = structlog.get_logger("chatledger.projections")

    def record_unreadable(self, chat_id: str, version: int, reason: str) -> None:
        try:
            recorded = self.quarantine(chat_id, version, reason)
        except PersistenceError as error:  # no read models yet, or the store went away
            self.log.warning("damage_not_recorded", chat_id=printable(chat_id), version=version,
                             error_type=type(error).__name__)  # fmt: skip
            return
        self.log.warning("damage_found", chat_id=printable(chat_id), version=version,
                         read_models=recorded)  # fmt: skip

    def quarantine(self, chat_id: str, version: int, reason: str) -> int:
        """Quarantine the event in each generation at or past its position; how many."""
        database = self.opened()
        table, position = EVENT_ROWS[database.dialect]
        with database.transaction() as cursor:
            cursor.execute(
                f"INSERT INTO quarantined_events (projection, generation, {QUARANTINE_COLUMNS}) "  # noqa: S608
                f"SELECT p.projection, p.generation, e.{position}, ?, e.originator_version, "
                f"e.topic, ?, ? FROM {table} e JOIN projection_positions p "
                f"ON p.position >= e.{position} "
                "WHERE e.originator_id = ? AND e.originator_version = ? ON CONFLICT DO NOTHING",
                (printable(chat_id), reason, datetime.now(UTC).isoformat(), chat_id, version),
            )
            return max(0, int(cursor.rowcount))

    def opened(self) -> SqlDatabase:
        with self.lock:
            if self.database is None:
                self.database = self.open_database()
            return self.database

    def close(self) -> None:
        with self.lock:
            if self.database is not None:
                self.database.close()
                self.database = None
