"""Damaged chats as the read side reports them: the chats with an event that the read models
quarantined or that the event store cannot decode, so that every answer about such a chat says
so and names the event, while the chat's other events and every other chat still answer."""

from __future__ import annotations

from collections.abc import Iterable

from chatledger.domain.application import ChatApplication
from chatledger.domain.errors import ChatLedgerError, ErrorCode
from chatledger.domain.unreadable_events import UnreadableEvent, chat_owner
from chatledger.projections.quarantine import DamagedChat, DamagedEvent, QuarantinedEvent


def owned_chat_damage(
    application: ChatApplication, chat_id: str, user_id: str
) -> UnreadableEvent | None:
    """Check that `user_id` owns the chat, as load_owned_chat does, but answer a damaged chat's
    owner with the damage instead of an error: reads go on with the events that can be read."""
    try:
        application.load_owned_chat(chat_id, user_id)
    except ChatLedgerError as error:
        if error.code is not ErrorCode.CHAT_DAMAGED or not error.details.get("owner_confirmed"):
            raise
        details = error.details
        return UnreadableEvent(chat_id, int(details.get("version", 0)), "", details["reason"])
    return None


def damaged_chats(quarantined: Iterable[QuarantinedEvent]) -> list[DamagedChat]:
    """The chats of these quarantined events, each event once with the read models that
    skipped it, in log order."""
    found: dict[str, dict[int, DamagedEvent]] = {}
    for event in quarantined:
        events = found.setdefault(event.chat_id, {})
        damaged = events.setdefault(event.position, _damaged_event(event))
        damaged.projections.append(event.projection)
    return [DamagedChat(chat_id=chat, events=list(events.values()))
            for chat, events in found.items()]  # fmt: skip


def users_damaged_chats(
    application: ChatApplication, quarantined: Iterable[QuarantinedEvent], user_id: str
) -> list[DamagedChat]:
    """The damaged chats of one user: whose first event, read from the store, names the user
    as owner (a chat whose first event is damaged has no known owner: operators see it)."""
    return [
        chat
        for chat in damaged_chats(quarantined)
        if chat_owner(application, chat.chat_id) == user_id
    ]


def store_damage(unreadable: UnreadableEvent) -> DamagedChat:
    """A chat whose event the store could not decode when it was read for this answer."""
    event = DamagedEvent(version=unreadable.version, reason=unreadable.reason)
    return DamagedChat(chat_id=unreadable.chat_id, events=[event])


def _damaged_event(event: QuarantinedEvent) -> DamagedEvent:
    return DamagedEvent(version=event.version, position=event.position, reason=event.reason)
