"""What the HTTP service answered to each write sent with an Idempotency-Key, kept in the
database beside the events (so every process and every restart knows it) for 48 hours.

A key is claimed before the request runs, so a second request with the key waits for nothing and
learns that the first is still running; a claim whose process died is taken over after a
minute. The key is scoped to the API key that sent it (by the digest of its bearer token): two
clients may use the same key for different requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from eventsourcing.persistence import IntegrityError

from chatledger.infrastructure.read_store.sql_database import Cursor, SqlDatabase

KEPT = timedelta(hours=48)  # at least the 24 hours clients are promised
ABANDONED_CLAIM = timedelta(minutes=1)
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS http_idempotency (owner TEXT NOT NULL, idempotency_key TEXT "
    "NOT NULL, fingerprint TEXT NOT NULL, status INTEGER, content_type TEXT, body TEXT, "
    "created_at TEXT NOT NULL, PRIMARY KEY (owner, idempotency_key))"
)
INDEX = "CREATE INDEX IF NOT EXISTS http_idempotency_created ON http_idempotency (created_at)"


@dataclass(frozen=True)
class Claim:
    """`new`: run the request; `replay`: answer what was answered; `mismatch`: the key was
    used for another request; `running`: the first request with the key has not finished."""

    outcome: Literal["new", "replay", "mismatch", "running"]
    status: int = 0
    content_type: str = "application/json"
    body: str = ""


class IdempotencyStore:
    def __init__(self, database: SqlDatabase) -> None:
        self.database = database
        self.purged_at = datetime.min.replace(tzinfo=UTC)
        with database.transaction() as cursor:
            database.lock_schema(cursor)
            cursor.execute(SCHEMA)
            cursor.execute(INDEX)

    def claim(self, owner: str, key: str, fingerprint: str) -> Claim:
        now = datetime.now(UTC)
        self.purge_now_and_then(now)
        try:
            with self.database.transaction() as cursor:
                cursor.execute(
                    "SELECT fingerprint, status, content_type, body, created_at "
                    "FROM http_idempotency WHERE owner = ? AND idempotency_key = ?", (owner, key)
                )  # fmt: skip
                row = cursor.fetchone()
                if row is None:
                    cursor.execute(
                        "INSERT INTO http_idempotency VALUES (?, ?, ?, NULL, NULL, NULL, ?)",
                        (owner, key, fingerprint, now.isoformat()),
                    )
                    return Claim("new")
                return self.claimed(cursor, row, owner, key, fingerprint, now)
        except IntegrityError:  # claimed by another request meanwhile
            return Claim("running")

    @staticmethod
    def claimed(
        cursor: Cursor, row: tuple[str, int | None, str | None, str | None, str],
        owner: str, key: str, fingerprint: str, now: datetime,
    ) -> Claim:  # fmt: skip
        given, status, content_type, body, created_at = row
        if given != fingerprint:
            return Claim("mismatch")
        if status is not None:
            return Claim("replay", status, content_type or "application/json", body or "")
        if now - datetime.fromisoformat(created_at) < ABANDONED_CLAIM:
            return Claim("running")
        cursor.execute(
            "UPDATE http_idempotency SET created_at = ? WHERE owner = ? AND idempotency_key = ?",
            (now.isoformat(), owner, key),
        )
        return Claim("new")  # the process that claimed it died: this request runs it

    def complete(self, owner: str, key: str, status: int, content_type: str, body: str) -> None:
        with self.database.transaction() as cursor:
            cursor.execute(
                "UPDATE http_idempotency SET status = ?, content_type = ?, body = ? "
                "WHERE owner = ? AND idempotency_key = ?", (status, content_type, body, owner, key)
            )  # fmt: skip

    def release(self, owner: str, key: str) -> None:
        """The request failed in a way a retry may mend (the store was down): forget it."""
        with self.database.transaction() as cursor:
            cursor.execute(
                "DELETE FROM http_idempotency WHERE owner = ? AND idempotency_key = ? "
                "AND status IS NULL", (owner, key)
            )  # fmt: skip

    def purge_now_and_then(self, now: datetime) -> None:
        """Forget keys older than KEPT, at most once a minute per process."""
        if now - self.purged_at < timedelta(minutes=1):
            return
        self.purged_at = now
        with self.database.transaction() as cursor:
            cursor.execute("DELETE FROM http_idempotency WHERE created_at < ?",
                           ((now - KEPT).isoformat(),))  # fmt: skip
