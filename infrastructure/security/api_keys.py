"""API keys for the HTTP API: bearer tokens mapped to a user id, a role and scopes, stored
hashed in the same database as the events (SQLite file or PostgreSQL schema).

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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, model_validator

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
# Added after the table first shipped: tables of earlier releases get them on first use.
ADDED_COLUMNS = (("scopes", "TEXT"), ("expires_at", "TEXT"))
COLUMNS = "key_id, user_id, role, created_at, revoked_at, scopes, expires_at"
MAX_OVERLAP = timedelta(days=30)


class Role(StrEnum):
    user = "user"  # reads and writes its own chats
    auditor = "auditor"  # reads every chat (audit, replay, verify, stats); writes nothing
    service = "service"  # a trusted backend: acts for the user each request names, by scopes


class Scope(StrEnum):
    write = "write"  # record messages and streams
    read = "read"  # stats, replay, lists, verify, the acting user's audit trail
    audit = "audit"  # every user's audit trail and chats
    erase = "erase"  # erase a user
    admin = "admin"  # manage keys


# What user and auditor keys may do: fixed by their role. A service key's scopes are its own.
ROLE_SCOPES = {Role.user: frozenset({Scope.write, Scope.read}),
               Role.auditor: frozenset({Scope.read, Scope.audit})}  # fmt: skip


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    user_id: str
    role: Role
    created_at: str
    revoked_at: str | None
    scopes: tuple[Scope, ...] = ()
    expires_at: str | None = None  # a rotated key's last moment

    @property
    def active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > _now())

    @property
    def allowed(self) -> frozenset[Scope]:
        own = frozenset(self.scopes) | ({Scope.read} if Scope.audit in self.scopes else set())
        return ROLE_SCOPES.get(self.role, own)  # who may read everyone's chats may read


@dataclass(frozen=True)
class IssuedKey:
    """A new key: `secret` is shown once and stored nowhere."""

    key: ApiKey
    secret: str


class NewKey(StrictInput):
    user_id: Identifier
    role: Role = Role.user
    scopes: Annotated[list[Scope], Field(max_length=5)] = Field(default_factory=list)

    @model_validator(mode="after")
    def scopes_for_services(self) -> NewKey:
        if self.role is Role.service and not self.scopes:
            raise ValueError("a service key needs its scopes")
        if self.role is not Role.service and self.scopes:
            raise ValueError("only a service key has scopes of its own")
        return self


def key_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class ApiKeyStore:
    """Creates, lists, revokes, rotates and checks keys; the table is made on first use."""

    def __init__(self, database: SqlDatabase) -> None:
        self.database = database
        with database.transaction() as cursor:
            database.lock_schema(cursor)
            cursor.execute(SCHEMA)
            cursor.execute("SELECT * FROM api_keys WHERE 1 = 0")
            present = {column[0] for column in cursor.description}
            for name, kind in ADDED_COLUMNS:
                if name not in present:
                    cursor.execute(f"ALTER TABLE api_keys ADD COLUMN {name} {kind}")

    def create(
        self, user_id: str, role: Role | str = Role.user, scopes: Sequence[str] = ()
    ) -> IssuedKey:
        """A new key for a user id (VALIDATION_ERROR unless an id, a role, and scopes for a
        service key only)."""
        # Strict input: text that names a role or scope becomes it; anything else is refused.
        given = [Scope(s) if s in set(Scope) else s for s in scopes]
        fields = validate(NewKey, user_id=user_id,
                          role=Role(role) if role in set(Role) else role, scopes=given)  # fmt: skip
        key_id = secrets.token_hex(6)
        secret = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        key = ApiKey(key_id, fields.user_id, fields.role, _now(), None,
                     tuple(sorted(set(fields.scopes))))  # fmt: skip
        with self.database.transaction() as cursor:
            cursor.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, NULL, ?, NULL)",
                (key_id, key_digest(secret), key.user_id, key.role.value, key.created_at,
                 ",".join(key.scopes)),
            )  # fmt: skip
        return IssuedKey(key, secret)

    def keys(self, user_id: str | None = None) -> list[ApiKey]:
        where, params = ("WHERE user_id = ?", (user_id,)) if user_id else ("", ())
        with self.database.transaction(write=False) as cursor:
            cursor.execute(f"SELECT {COLUMNS} FROM api_keys {where} ORDER BY created_at", params)  # noqa: S608
            return [_key(row) for row in cursor.fetchall()]

    def key(self, key_id: str) -> ApiKey | None:
        with self.database.transaction(write=False) as cursor:
            cursor.execute(f"SELECT {COLUMNS} FROM api_keys WHERE key_id = ?", (key_id,))  # noqa: S608
            row = cursor.fetchone()
        return None if row is None else _key(row)

    def revoke(self, key_id: str) -> ApiKey | None:
        """Revoke a key at once (the next request with it gets 401); None if there is no such
        key. Revoking again keeps the first revocation time."""
        with self.database.transaction() as cursor:
            cursor.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (_now(), key_id),
            )
        return self.key(key_id)

    def revoke_user(self, user_id: str) -> int:
        """Revoke every key of a user (an erased user's): how many were active."""
        with self.database.transaction() as cursor:
            cursor.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                (_now(), user_id),
            )
            return int(cursor.rowcount)

    def rotate(self, key_id: str, overlap: timedelta) -> IssuedKey | None:
        """A new key like this one; the old one works `overlap` longer (clients move over
        meanwhile), then is refused. None if there is no such active key."""
        old = self.key(key_id)
        if old is None or not old.active:
            return None
        overlap = min(max(overlap, timedelta(0)), MAX_OVERLAP)
        issued = self.create(old.user_id, old.role, old.scopes)
        ends = (datetime.now(UTC) + overlap).isoformat()
        with self.database.transaction() as cursor:
            cursor.execute("UPDATE api_keys SET expires_at = ? WHERE key_id = ?", (ends, key_id))
        return issued

    def authenticate(self, secret: str) -> ApiKey | None:
        """The active key with this secret, or None (unknown, malformed, revoked, expired)."""
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


def _key(row: tuple[Any, ...]) -> ApiKey:
    key_id, user_id, role, created_at, revoked_at, scopes, expires_at = row
    named = tuple(Scope(s) for s in (scopes or "").split(",") if s)
    return ApiKey(key_id, user_id, Role(role), created_at, revoked_at, named, expires_at)


def _now() -> str:
    return datetime.now(UTC).isoformat()
