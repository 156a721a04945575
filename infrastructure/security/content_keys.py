"""The content keys per user, in a table beside the events (the same SQLite file or PostgreSQL
schema): created on a user's first message, destroyed for good when the user is erased.

Erasure keeps the user's row as a tombstone with the key material set to NULL, so that a key
can never be created again for that user id (later content is refused with USER_ERASED), and
so that a concurrent first message and an erasure meet on the same primary key and take turns.
On SQLite the connection runs with `secure_delete`, which overwrites the old key bytes with
zeros instead of leaving them in free space of the page; PostgreSQL leaves the old row version
as a dead tuple until VACUUM (pg_dump never shows one), see docs/erasure.md.
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

from chatledger.domain.ports import KeyDestruction, UserKey
from chatledger.infrastructure.read_store.sql_database import Cursor, SqlDatabase

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS content_keys (user_id TEXT PRIMARY KEY, key_id TEXT UNIQUE, "
    "key_material TEXT, created_at TEXT NOT NULL, erased_at TEXT)"
)
SELECT = "SELECT key_id, key_material, erased_at FROM content_keys WHERE user_id = ?"
SELECT_FOR_UPDATE = SELECT + " FOR UPDATE"  # PostgreSQL: an erasure waits for a key's creation
KEY_BYTES = 32  # AES-256


class SqlKeyStore:
    """The default KeyStore: one AES-256 key per user in the `content_keys` table."""

    def __init__(self, database: SqlDatabase) -> None:
        self.database = database
        with database.transaction() as cursor:
            database.lock_schema(cursor)
            cursor.execute(SCHEMA)

    def writing_key(self, owner_id: str) -> UserKey | None:
        with self.database.transaction(write=False) as cursor:
            row = self.row(cursor, owner_id)
        if row is None:
            row = self.create(owner_id)
        return self.user_key(owner_id, row)

    def create(self, owner_id: str) -> tuple[str | None, str | None, str | None]:
        key_id = secrets.token_hex(8)
        material = base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")
        with self.database.transaction() as cursor:
            self.durably(cursor)
            # Two processes creating the first key of one user at once: the first insert wins
            # and both read it back; an erasure that came first leaves its tombstone in place.
            cursor.execute(
                "INSERT INTO content_keys (user_id, key_id, key_material, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO NOTHING",
                (owner_id, key_id, material, _now()),
            )
            row = self.row(cursor, owner_id)
        assert row is not None
        return row

    def key(self, key_id: str) -> UserKey | None:
        with self.database.transaction(write=False) as cursor:
            cursor.execute(
                "SELECT user_id, key_material FROM content_keys WHERE key_id = ?", (key_id,)
            )
            row = cursor.fetchone()
        if row is None or row[1] is None:
            return None
        return UserKey(key_id, row[0], base64.b64decode(row[1]))

    def status(self, owner_id: str) -> str:
        with self.database.transaction(write=False) as cursor:
            row = self.row(cursor, owner_id)
        if row is None:
            return "none"
        return "erased" if row[2] is not None else "active"

    def destroy(self, owner_id: str) -> KeyDestruction:
        with self.database.transaction() as cursor:
            self.durably(cursor)
            before = self.row(cursor, owner_id, for_update=self.database.dialect == "postgres")
            now = _now()
            cursor.execute(
                "INSERT INTO content_keys (user_id, key_id, key_material, created_at, erased_at) "
                "VALUES (?, NULL, NULL, ?, ?) ON CONFLICT (user_id) DO UPDATE SET "
                "key_material = NULL, erased_at = COALESCE(content_keys.erased_at, ?)",
                (owner_id, now, now, now),
            )
        if before is None:
            return KeyDestruction.no_key
        return KeyDestruction.already_erased if before[2] else KeyDestruction.destroyed

    def close(self) -> None:
        self.database.close()

    def durably(self, cursor: Cursor) -> None:
        # The read models' connections skip the commit's flush (derived data); a key is not
        # derived: the events sealed with it would be unreadable if a crash lost it. On SQLite
        # the key's commit precedes the events' in the one WAL, whose frames are checksummed in
        # a chain: no event sealed with the key can survive a crash that the key did not.
        if self.database.dialect == "postgres":
            cursor.execute("SET LOCAL synchronous_commit TO on")

    @staticmethod
    def row(
        cursor: Cursor, owner_id: str, *, for_update: bool = False
    ) -> tuple[str | None, str | None, str | None] | None:
        cursor.execute(SELECT_FOR_UPDATE if for_update else SELECT, (owner_id,))
        row = cursor.fetchone()
        return None if row is None else (row[0], row[1], row[2])

    @staticmethod
    def user_key(owner_id: str, row: tuple[str | None, str | None, str | None]) -> UserKey | None:
        key_id, material, erased_at = row
        if erased_at is not None or key_id is None or material is None:
            return None
        return UserKey(key_id, owner_id, base64.b64decode(material))


def _now() -> str:
    return datetime.now(UTC).isoformat()
