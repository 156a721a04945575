"""API keys for the HTTP API: bearer tokens mapped to a user id and a role, stored hashed in the
same database as the events (SQLite file or PostgreSQL schema).

Only SHA-256 of a key is stored. A slow password hash (scrypt, argon2) protects secrets people
choose, which are guessable; a key here is 32 random bytes (256 bits), so no guess list exists and
a leaked table of SHA-256 digests gives nothing to brute-force, while every request pays one
fast hash instead of tens of milliseconds. The digest is looked up through a unique index: the
caller cannot steer which stored digest a lookup compares against, so no timing side channel
leaks a key.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from chatledger.domain.boundary import validate
from chatledger.domain.input_types import Identifier, StrictInput
from chatledger.infrastructure.read_store.sql_database import SqlDatabase

KEY_PREFIX = "clk"
KEY_SHAPE = re.compile(r"^clk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$")
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS api_keys (key_id TEXT PRIMARY KEY, key_hash TEXT NOT NULL "
    "UNIQUE, user_id TEXT NOT NULL, role TEXT NOT NULL, created_at TEXT NOT NULL, "
    "revoked_at TEXT)"
)
COLUMNS = "key_id, user_id, role, created_at, revoked_at"


class Role(StrEnum):
    user = "user"  # reads and writes its own chats
    auditor = "auditor"  # reads every chat (audit, replay, verify, stats); writes nothing


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    user_id: str
    role: Role
    created_at: str
    revoked_at: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class IssuedKey:
    """A new key: `secret` is shown once and stored nowhere."""

    key: ApiKey
    secret: str


class NewKey(StrictInput):
    user_id: Identifier
    role: Role = Role.user


def key_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class ApiKeyStore:
    """Creates, lists, revokes and checks keys; the table is created on first use."""

    def __init__(self, database: SqlDatabase) -> None:
        self.database = database
        with database.transaction() as cursor:
            database.lock_schema(cursor)
            cursor.execute(SCHEMA)

    def create(self, user_id: str, role: Role | str = Role.user) -> IssuedKey:
        """A new key for a user id (VALIDATION_ERROR unless an id and a role)."""
        fields = validate(NewKey, user_id=user_id, role=Role(role) if role in set(Role) else role)
        key_id = secrets.token_hex(6)
        secret = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        key = ApiKey(key_id, fields.user_id, fields.role, _now(), None)
        with self.database.transaction() as cursor:
            cursor.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, NULL)",
                (key_id, key_digest(secret), key.user_id, key.role.value, key.created_at),
            )
        return IssuedKey(key, secret)

    def keys(self, user_id: str | None = None) -> list[ApiKey]:
        where, params = ("WHERE user_id = ?", (user_id,)) if user_id else ("", ())
        with self.database.transaction(write=False) as cursor:
            cursor.execute(f"SELECT {COLUMNS} FROM api_keys {where} ORDER BY created_at", params)  # noqa: S608
            return [_key(row) for row in cursor.fetchall()]

    def revoke(self, key_id: str) -> ApiKey | None:
        """Revoke a key at once (the next request with it gets 401); None if there is no such
        key. Revoking again keeps the first revocation time."""
        with self.database.transaction() as cursor:
            cursor.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (_now(), key_id),
            )
            cursor.execute(f"SELECT {COLUMNS} FROM api_keys WHERE key_id = ?", (key_id,))  # noqa: S608
            row = cursor.fetchone()
        return None if row is None else _key(row)

    def authenticate(self, secret: str) -> ApiKey | None:
        """The active key with this secret, or None (unknown, malformed or revoked)."""
        if not KEY_SHAPE.fullmatch(secret):
            return None  # never hashed or sent to the database: not a key of ours
        with self.database.transaction(write=False) as cursor:
            cursor.execute(
                f"SELECT {COLUMNS} FROM api_keys WHERE key_hash = ?",  # noqa: S608
                (key_digest(secret),),
            )
            row = cursor.fetchone()
        key = None if row is None else _key(row)
        return key if key is not None and key.active else None


def _key(row: tuple[str, str, str, str, str | None]) -> ApiKey:
    key_id, user_id, role, created_at, revoked_at = row
    return ApiKey(key_id, user_id, Role(role), created_at, revoked_at)


def _now() -> str:
    return datetime.now(UTC).isoformat()
