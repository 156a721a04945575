"""The event types of the record, named as the audit index names them, and the one reading of
a type a person or a client names: `UserMessageRecorded`, `Chat.UserMessageRecorded` and any
case of either are the same type; anything else is refused with the list of the types."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, StringConstraints

from chatledger.domain.chat import Chat
from chatledger.domain.data_subject import DataSubject
from chatledger.domain.messages import ROLES

RECORDED_EVENTS = (
    Chat.Started,
    Chat.SystemMessageRecorded,
    Chat.DeveloperMessageRecorded,
    Chat.UserMessageRecorded,
    Chat.AssistantMessageRecorded,
    Chat.ToolMessageRecorded,
    Chat.StreamOpened,
    Chat.StreamCompleted,
    Chat.StreamFailed,
    DataSubject.Erased,
)
EVENT_TYPES = tuple(event.__name__ for event in RECORDED_EVENTS)  # as the audit index has them
_NAMED = {
    name.lower(): event.__name__
    for event in RECORDED_EVENTS
    for name in (event.__name__, event.__qualname__)
}
# A role's messages are its own event types (a streamed reply is the assistant's).
ROLE_EVENT_TYPES = {
    role: tuple(e.__name__ for e in RECORDED_EVENTS if getattr(e, "role", None) == role)
    for role in ROLES
}


def event_type_named(name: str) -> str:
    """The event type a name stands for, as the audit index has it."""
    try:
        return _NAMED[name.lower()]
    except KeyError:
        raise ValueError(f"unknown event type; the types are {', '.join(EVENT_TYPES)}") from None


EventType = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z.]{0,63}$"), AfterValidator(event_type_named)
]
