"""What a proof export holds, gathered in one pass over the log: the selected chats' events as
stored (their canonical bytes and hashes, in log order), each chat's head, and the digest of the
whole log that a checkpoint signs (infrastructure/security/proof_archive.py writes the archive)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from chatledger.domain.chain import canonical_bytes
from chatledger.domain.errors import ChatLedgerError, ErrorCode
from chatledger.projections.checkpoint import LogDigest, digest_log

SUBJECT_PREFIX = "!subject:"  # a user's erasure records (domain/data_subject.py)


@dataclass(frozen=True)
class Selection:
    """Which chats go into the export: one chat, or one user's chats (and the user's erasure
    records); with `since`, only events from then on (each chat from its first event at or after
    `since`). Nothing given: every chat."""

    chat: str | None = None
    user: str | None = None
    since: datetime | None = None

    def as_dict(self) -> dict[str, str | None]:
        since = self.since.isoformat() if self.since else None
        return {"chat": self.chat, "user": self.user, "since": since}


@dataclass
class ExportedChat:
    chat_id: str
    owner: str | None
    from_version: int = 0
    head_version: int = 0
    head_hash: str = ""
    events: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"chat_id": self.chat_id, "owner": self.owner, "from_version": self.from_version,
                "head_version": self.head_version, "head_hash": self.head_hash,
                "events": self.events}  # fmt: skip


def event_record(position: int, event: Any) -> dict[str, Any]:
    """One event of the archive: where it is in the log, and its canonical record."""
    return {"position": position, **canonical_record(event)}


def canonical_record(event: Any) -> dict[str, Any]:
    """The bytes an event's hash is computed over (domain/chain.py), as ASCII text, and what a
    reader wants without parsing them."""
    fields = {k: v for k, v in vars(event).items() if k != "hash"}
    event_type = type(event).__qualname__
    return {
        "chat_id": str(event.originator_id),
        "version": event.originator_version,
        "event_type": event_type,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
        "canonical": canonical_bytes(event_type, fields).decode("ascii"),
    }


@dataclass
class ProofCollector:
    """Visits every event of the digest's pass and hands the selected ones to `write`."""

    selection: Selection
    write: Callable[[dict[str, Any]], None]
    progress: Callable[[int], None] | None = None
    chats: dict[str, ExportedChat] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)

    def __call__(self, notification: Notification, event: Any, recomputed: str) -> None:
        chat_id = str(event.originator_id)
        if event.originator_version == 1 and hasattr(event, "owner_id"):
            self.owners[chat_id] = event.owner_id
        if self.progress and notification.id % 1000 == 0:
            self.progress(notification.id)
        if not self.selects(chat_id, event):
            return
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = self.chats[chat_id] = ExportedChat(chat_id, self.owners.get(chat_id))
            chat.from_version = event.originator_version
        # The stored hash, as the archive's events claim it; the checkpoint's root covers the
        # recomputed one, so an event altered in the database fails the auditor's check.
        chat.head_version, chat.head_hash = event.originator_version, event.hash
        chat.events += 1
        self.write(event_record(notification.id, event))

    def selects(self, chat_id: str, event: Any) -> bool:
        wanted = self.selection
        if wanted.chat is not None and chat_id != wanted.chat:
            return False
        if wanted.user is not None and not (
            self.owners.get(chat_id) == wanted.user or chat_id == SUBJECT_PREFIX + wanted.user
        ):
            return False
        # A chat once selected keeps every later event: its chain goes on unbroken to its head.
        return wanted.since is None or chat_id in self.chats or event.timestamp >= wanted.since


def collect_proof(
    application: Application[Any], collector: ProofCollector, up_to: int | None = None
) -> LogDigest:
    """The log's digest at `up_to` (default: its head), the collector fed on the way; a selection
    that finds nothing is CHAT_NOT_FOUND or USER_NOT_FOUND."""
    digest = digest_log(application, up_to, collector)
    if not collector.chats and (collector.selection.chat or collector.selection.user):
        code = ErrorCode.CHAT_NOT_FOUND if collector.selection.chat else ErrorCode.USER_NOT_FOUND
        what = "no event of this chat" if collector.selection.chat else "no chat of this user"
        raise ChatLedgerError(code, f"{what} in the log", collector.selection.as_dict())
    return digest
