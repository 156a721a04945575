"""What the domain needs from the outside world, as Protocols the infrastructure implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from chatledger.domain.errors import ChatLedgerError, ErrorCode


@dataclass(frozen=True)
class TokenCount:
    """A token count and the tokenizer encoding that produced it.

    `exact_model` is False when the model was unknown to the tokenizer and a default
    encoding was used instead, so readers know the count is an estimate.
    """

    count: int
    encoding: str
    exact_model: bool = True


class TokenCounter(Protocol):
    def prepare(self, model: str | None) -> None:
        """Load what counting with the encoding of `model` needs, once: the pipeline calls it
        before it starts measuring a message, so that no message's cost carries the load."""
        ...

    def count(self, text: str, model: str | None) -> TokenCount:
        """Count the tokens of `text` as plain text (special-token markers are ordinary text)
        with the encoding of `model`."""
        ...


@dataclass(frozen=True)
class DetectedIntent:
    name: str
    confidence: float
    keywords: tuple[str, ...]


class IntentDetector(Protocol):
    def detect(self, text: str) -> DetectedIntent: ...


@dataclass(frozen=True)
class CommandReport:
    """What the pipeline reports about each command: ids, outcome and timing, never content."""

    command: str
    outcome: str  # recorded | duplicate | answered (queries) | rejected | failed
    chat_id: str | None
    user_id: str | None
    message_id: str | None
    error_code: str | None
    processing_ms: float
    attempts: int
    version: int | None = None
    token_count: int | None = None
    exception_type: str | None = None
    store_ms: float | None = None  # of processing_ms, the time spent saving events
    requested_by: str | None = None  # erasures: the id of who asked (never the reason)


@runtime_checkable
class OriginatorIndex(Protocol):
    """An event store that tells in one query which of many streams exist (the SQLite and
    PostgreSQL recorders): an import of a window of chats asks once, not once per chat."""

    def originators_among(self, originator_ids: Sequence[str]) -> set[str]: ...


@runtime_checkable
class RowDigests(Protocol):
    """An event store that digests a stream's stored rows itself (chat_cache), cheaper than
    reading them back: a load compares digests."""

    def row_digests(self, originator_id: str, after_version: int) -> list[tuple[int, object]]:
        """(version, digest) of each event of the stream after `after_version`, in order."""
        ...

    def row_digest(self, topic: str, state: bytes) -> object:
        """The digest of one row, as row_digests gives it (for the rows just recorded)."""
        ...


class DamageRecorder(Protocol):
    """Keeps the record of an event found unreadable in the store by a reader that decodes it
    (a load of its chat, verify), where answers that decode no events look for damage."""

    def record_unreadable(self, chat_id: str, version: int, reason: str) -> None:
        """Never raises: a record that cannot be kept now is kept when the event is next met."""
        ...

    def close(self) -> None: ...


class NoDamageRecord:
    """For an application without read models: nothing answers from a record."""

    def record_unreadable(self, chat_id: str, version: int, reason: str) -> None:
        """The damage goes unrecorded."""

    def close(self) -> None:
        """Nothing to release."""


class CommandObserver(Protocol):
    def command_finished(self, report: CommandReport) -> None: ...


class NullObserver:
    def command_finished(self, report: CommandReport) -> None:
        """Reports go nowhere: for embedded use without logging."""


def content_binding(chat_id: str, message_id: str) -> str:
    """What a message's sealed content is bound to (ids never hold a newline)."""
    return f"{chat_id}\n{message_id}"


def field_binding(chat_id: str, message_id: str, field: str) -> str:
    """What a message's other sealed fields are bound to: its parts' data, URLs and file
    names, its tool calls' arguments, its refusal, its participant's name (`field` names
    which, e.g. "parts.2.data", "name")."""
    return f"{chat_id}\n{message_id}\n{field}"


def title_binding(chat_id: str) -> str:
    """What a chat's sealed title is bound to (no message binding ends with a newline)."""
    return f"{chat_id}\n"


def personal_metadata_binding(chat_id: str, message_id: str) -> str:
    """What a message's sealed personal metadata is bound to: a third line, so that neither a
    sealed content nor a title opens in its place (ids never hold a newline)."""
    return f"{chat_id}\n{message_id}\nmetadata"


# What the read side shows, everywhere, in place of content whose owner was erased.
ERASED_CONTENT = "[erased]"
# Shown for a sealed text that does not open with its key: altered, or moved to another
# message. `verify` names the broken link; the read side keeps going.
UNREADABLE_CONTENT = "[unreadable]"


class KeyDestruction(StrEnum):
    """What destroying a user's key found."""

    destroyed = "destroyed"  # a key existed and is gone
    already_erased = "already_erased"  # destroyed before: nothing changed
    no_key = "no_key"  # the user never had a key; the user is now marked erased all the same


@dataclass(frozen=True)
class UserKey:
    """A user's content key as a key store hands it out."""

    key_id: str
    owner_id: str
    material: bytes


class KeyStore(Protocol):
    """Where the keys per user live: a table beside the events by default, or a KMS."""

    def writing_key(self, owner_id: str) -> UserKey | None:
        """The owner's key, created on first use; None once the owner is erased."""
        ...

    def key(self, key_id: str) -> UserKey | None:
        """A key by its id; None when it was destroyed (or never existed)."""
        ...

    def status(self, owner_id: str) -> str:
        """none (never had a key), active, or erased."""
        ...

    def destroy(self, owner_id: str) -> KeyDestruction: ...

    def close(self) -> None: ...


class ContentProtector(Protocol):
    """Encrypts message content under a key per user, so that destroying the key erases it.

    `binding` names where the text belongs (chat and message id): a sealed text copied into
    another message does not open. Empty text stays empty: it reveals nothing and needs no key.
    """

    def seal(self, owner_id: str, text: str, binding: str) -> str:
        """The text as stored; raises ChatLedgerError(USER_ERASED) once the owner is erased."""
        ...

    def unseal(self, owner_id: str, stored: str, binding: str) -> str:
        """The text; ERASED_CONTENT when the owner was erased. Text stored before encryption
        existed (legacy plaintext) comes back as it is, while its owner is not erased."""
        ...

    def is_sealed(self, stored: str) -> bool: ...

    def ensure_writable(self, owner_id: str) -> None:
        """Raise ChatLedgerError(USER_ERASED) if the owner was erased."""
        ...

    def knows(self, owner_id: str) -> bool:
        """Whether the owner has (or had) a key."""
        ...

    def destroy(self, owner_id: str) -> KeyDestruction:
        """Destroy the owner's key for good and refuse new content for the owner."""
        ...

    def forget(self, owner_id: str) -> None:
        """An erasure was seen in the log: drop whatever this process keeps of the owner."""
        ...

    def close(self) -> None: ...


class PlaintextContent:
    """Stores content as it is: for embedded use without a key store and for the benchmark's
    baseline. Nothing stored through it can be crypto-shredded."""

    def __init__(self) -> None:
        self.erased: set[str] = set()

    def seal(self, owner_id: str, text: str, binding: str) -> str:
        self.ensure_writable(owner_id)
        return text

    def unseal(self, owner_id: str, stored: str, binding: str) -> str:
        return ERASED_CONTENT if stored and owner_id in self.erased else stored

    def is_sealed(self, stored: str) -> bool:
        return False

    def ensure_writable(self, owner_id: str) -> None:
        if owner_id in self.erased:
            raise ChatLedgerError(ErrorCode.USER_ERASED, "this user was erased",
                                  {"user_id": owner_id})  # fmt: skip

    def knows(self, owner_id: str) -> bool:
        return owner_id in self.erased

    def destroy(self, owner_id: str) -> KeyDestruction:
        known = owner_id in self.erased
        self.erased.add(owner_id)
        return KeyDestruction.already_erased if known else KeyDestruction.no_key

    def forget(self, owner_id: str) -> None:
        self.erased.add(owner_id)

    def close(self) -> None:
        """Holds nothing."""
