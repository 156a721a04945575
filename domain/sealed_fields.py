"""Reading what the commands sealed into stored events: a message's content, a chat's title and
a message's personal metadata, each through the protector with the binding it was sealed with.
One place for the pipeline (duplicate checks, titles) and the read side (rows, replay, export)."""

from __future__ import annotations

from chatledger.domain.chat import Chat, ChatEvent
from chatledger.domain.personal_metadata import OpenedMetadata, open_personal_metadata
from chatledger.domain.ports import ContentProtector, content_binding, title_binding


def opened_content(event: ChatEvent, protector: ContentProtector) -> str:
    fields = vars(event)
    binding = content_binding(event.originator_id, fields["message_id"])
    return protector.unseal(fields["user_id"], fields["content"], binding)


def opened_metadata(event: ChatEvent, protector: ContentProtector) -> OpenedMetadata:
    """Events recorded before personal metadata existed read "" (none)."""
    fields = vars(event)
    stored = fields.get("personal_metadata", "")
    return open_personal_metadata(
        protector, fields["user_id"], event.originator_id, fields["message_id"], stored
    )


def opened_title(started: Chat.Started, protector: ContentProtector) -> str | None:
    if started.title is None:
        return None
    binding = title_binding(started.originator_id)
    return protector.unseal(started.owner_id, started.title, binding)
