"""Events that are stored but cannot be read back: a disk error, a bad restore or a tampered row.

One such event must not make its neighbours unreadable. Readers that can go on without it
(replay up to it, the audit trail around it, the read models) read through `readable_events`,
which hands back the events it could decode and an `UnreadableEvent` in the place of each one
it could not, naming where it is and why, never what it says.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import (
    Mapper,
    MapperDeserialisationError,
    PersistenceError,
    StoredEvent,
)

from chatledger.domain.errors import ChatLedgerError, ErrorCode

REASON_LENGTH = 200


@dataclass(frozen=True)
class UnreadableEvent:
    chat_id: str
    version: int
    topic: str
    reason: str  # the error's type and the first words of its message

    def details(self) -> dict[str, Any]:
        return {"chat_id": self.chat_id, "version": self.version, "reason": self.reason}


def failure_reason(error: BaseException) -> str:
    """Why an event could not be read, short enough for a table and a log line: the decoders'
    messages name the place and the kind of fault (a type, a JSON offset), not the state."""
    cause = error.__cause__  # eventsourcing's wrapper repeats the place; its cause says what
    if cause is not None:
        return f"{type(error).__name__}: {failure_reason(cause)}"[:REASON_LENGTH]
    words = " ".join(str(error).split())
    return printable(f"{type(error).__name__}: {words}"[:REASON_LENGTH])


def printable(text: str) -> str:
    """Text any store and terminal takes: a damaged row may hold NUL bytes (PostgreSQL's text
    refuses them), lone surrogates or control characters, shown escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def is_unreadable(error: Exception) -> bool:
    """A fault of the event (decoding it, or folding what it says), not of the database."""
    return not isinstance(error, PersistenceError)


class CheckedMapper(Mapper[str]):
    """eventsourcing's mapper, which also refuses an event that lacks a field its type
    requires: a stored event relabelled as another type (its topic changed) would otherwise
    decode into an object that some readers apply, others fail on, and the aggregate folds
    wrongly. One check here makes every reader see the same unreadable event."""

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        event = super().to_domain_event(stored_event)
        missing = required_fields(type(event)).difference(vars(event))
        if missing:
            raise MapperDeserialisationError(
                f"the state stored as {type(event).__qualname__} lacks its field(s) "
                f"{', '.join(sorted(missing))}"
            )
        return event


@cache
def required_fields(event_type: type) -> frozenset[str]:
    """The fields of an event type without a default (an upcast has filled older versions)."""
    if not dataclasses.is_dataclass(event_type):
        return frozenset()
    return frozenset(
        field.name
        for field in dataclasses.fields(event_type)
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
    )


def decoded(application: Application[Any], stored: StoredEvent) -> Any:
    """The stored event as a domain event, or an UnreadableEvent in its place."""
    try:
        return application.mapper.to_domain_event(stored)
    except Exception as error:
        if not is_unreadable(error):
            raise
        return UnreadableEvent(
            printable(str(stored.originator_id)),
            stored.originator_version,
            printable(stored.topic),
            failure_reason(error),
        )


def readable_events(
    application: Application[Any],
    chat_id: str,
    *,
    gt: int | None = None,
    lte: int | None = None,
) -> Iterator[Any]:
    """A chat's events in order, each decoded or an UnreadableEvent in its place."""
    for stored in application.recorder.select_events(chat_id, gt=gt, lte=lte):
        yield decoded(application, stored)


def first_unreadable(application: Application[Any], chat_id: str) -> UnreadableEvent | None:
    for event in readable_events(application, chat_id):
        if isinstance(event, UnreadableEvent):
            return event
    return None


def chat_owner(application: Application[Any], chat_id: str) -> str | None:
    """Who started the chat, from its first event alone (None: no chat, or that event is the
    damaged one), so that a chat damaged further on still has its owner."""
    first = next(readable_events(application, chat_id, lte=1), None)
    return None if isinstance(first, UnreadableEvent) else getattr(first, "owner_id", None)


def chat_damage(
    application: Application[Any],
    chat_id: str,
    user_id: str,
    error: Exception,
    unreadable: UnreadableEvent | None,
) -> ChatLedgerError:
    """The error for a chat that cannot be loaded because of one of its events (`unreadable`,
    its first_unreadable): the owner (from its first event, when that one reads) learns which
    event; another user learns only what a chat of someone else's tells (UNAUTHORIZED).
    `owner_confirmed` lets readers that can go on without the event (replay, the read models)
    answer the owner."""
    owner = chat_owner(application, chat_id)
    if owner is not None and owner != user_id:
        return ChatLedgerError(
            ErrorCode.UNAUTHORIZED, "this chat belongs to another user", {"chat_id": chat_id}
        )
    details: dict[str, Any] = (
        unreadable.details()
        if unreadable is not None  # else it decodes, but folding it into the chat failed
        else {"chat_id": chat_id, "reason": failure_reason(error)}
    )
    details["owner_confirmed"] = owner is not None
    return ChatLedgerError(ErrorCode.CHAT_DAMAGED, "an event of this chat cannot be read", details)
