"""Audit records: the audit index's entries in event order, each with the fields its event
recorded, fetched page by page so that exports of any size run in constant memory; and their
CSV rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from chatledger.domain.application import ChatApplication
from chatledger.domain.chat import Chat
from chatledger.domain.ports import ContentProtector
from chatledger.domain.sealed_fields import opened_content, opened_metadata, opened_title
from chatledger.domain.sealed_message import SEALED_PART_FIELDS, Opener
from chatledger.domain.unreadable_events import UnreadableEvent, readable_events
from chatledger.projections.changes import message_status
from chatledger.projections.rows import AuditEntry
from chatledger.projections.views import AuditFilter, AuditIndexView

PAGE = 1000
RECORD_COLUMNS = ("position", "recorded_at", "chat_id", "user_id", "event_type", "message_id",
                  "version", "hash")  # fmt: skip
# A CSV column for each field most audits ask about (its place in the recorded fields); the
# other fields are JSON in `other_fields`.
FIELD_COLUMNS = {
    "role": ("role",),
    "model": ("model",),
    "response_model": ("response_model",),
    "token_count": ("tokens", "count"),
    "token_encoding": ("tokens", "encoding"),
    "input_tokens": ("usage", "input_tokens"),
    "output_tokens": ("usage", "output_tokens"),
    "finish_reasons": ("finish_reasons",),
    "status": ("status",),
    "error_code": ("error_code",),
}
# The export's CSV columns, for the CLI, the HTTP API and the console alike.
CSV_COLUMNS = (*RECORD_COLUMNS, *FIELD_COLUMNS, "damaged", "other_fields")
# Fields every record has at its top level already, or that only link the chain.
TOP_LEVEL = {"originator_id", "originator_version", "timestamp", "hash", "originator_topic"}
# OpenTelemetry GenAI semantic-convention names, beside ChatLedger's own.
GEN_AI_NAMES = {
    "model": "gen_ai.request.model",
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "max_tokens": "gen_ai.request.max_tokens",
    "seed": "gen_ai.request.seed",
    "provider": "gen_ai.provider.name",
    "response_model": "gen_ai.response.model",
    "response_id": "gen_ai.response.id",
    "finish_reasons": "gen_ai.response.finish_reasons",
    "tool_call_id": "gen_ai.tool.call.id",
}


def recorded_fields(event: Any, with_content: bool, protector: ContentProtector) -> dict[str, Any]:
    fields = {k: v for k, v in vars(event).items() if k not in TOP_LEVEL}
    if isinstance(event, Chat.MessageEvent):
        fields["role"] = event.role
        fields["status"] = message_status(event)  # of the message, once the event applies
        fields["gen_ai.conversation.id"] = event.originator_id
    if not with_content:
        # No sealed field (titles and names are sealed too): what parts and tool calls are, not
        # their words.
        for name in ("content", "personal_metadata", "refusal", "title", "name"):
            fields.pop(name, None)
        if fields.get("parts") is not None:
            fields["parts"] = [without(p, (*SEALED_PART_FIELDS, "length")) for p in fields["parts"]]
        if fields.get("tool_calls") is not None:
            fields["tool_calls"] = [without(call, ("arguments",)) for call in fields["tool_calls"]]
    else:
        opener = Opener(event, protector)
        if "content" in fields:
            fields["content"] = opened_content(event, protector)
            if fields.get("parts") is not None:
                fields["parts"] = opener.parts(fields["content"])
        if "metadata" in fields:  # events from before personal metadata existed too
            fields["personal_metadata"] = opened_metadata(event, protector)
        if fields.get("tool_calls") is not None:
            fields["tool_calls"] = opener.tool_calls()
        if fields.get("refusal") is not None:
            fields["refusal"] = opener.refusal()
        if fields.get("name") is not None:
            fields["name"] = opener.name()
        if isinstance(event, Chat.Started):
            fields["title"] = opened_title(event, protector)
    for name, gen_ai in GEN_AI_NAMES.items():
        if fields.get(name) is not None:
            fields[gen_ai] = fields[name]
    usage = fields.get("usage") or {}
    for key in ("input_tokens", "output_tokens"):
        if usage.get(key) is not None:
            fields[f"gen_ai.usage.{key}"] = usage[key]
    return fields


def without(record: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in names}


def csv_row(record: dict[str, Any]) -> list[Any]:
    """A record's CSV row, in CSV_COLUMNS order: a damaged record's field columns are empty."""
    # The gen_ai.* names are copies of fields that have columns or stay among the others.
    rest = {k: v for k, v in (record["fields"] or {}).items() if not k.startswith("gen_ai.")}
    cells = [csv_cell(taken(rest, path)) for path in FIELD_COLUMNS.values()]
    other = "" if record["fields"] is None else json.dumps(rest, ensure_ascii=False, default=str)
    return [*(record[c] for c in RECORD_COLUMNS), *cells, record.get("damaged", ""), other]


def taken(fields: dict[str, Any], path: tuple[str, ...]) -> Any:
    """The value at `path`, removed from `fields` (a nested object left empty goes too)."""
    name, *inner = path
    if not inner:
        return fields.pop(name, None)
    if not isinstance(fields.get(name), dict):
        return None
    fields[name] = dict(fields[name])  # the record's own object stays whole
    value = taken(fields[name], tuple(inner))
    if not fields[name]:
        del fields[name]
    return value


def csv_cell(value: Any) -> Any:
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return "" if value is None else value


def audit_records(
    application: ChatApplication,
    index: AuditIndexView,
    where: AuditFilter,
    *,
    with_content: bool = False,
) -> Iterator[dict[str, Any]]:
    after = 0
    while page := audit_page(application, index, where, after, PAGE, with_content=with_content):
        yield from page
        after = page[-1]["position"]


def audit_page(
    application: ChatApplication,
    index: AuditIndexView,
    where: AuditFilter,
    after_position: int,
    limit: int,
    *,
    with_content: bool = False,
) -> list[dict[str, Any]]:
    """Up to `limit` records after a position, in event order. An event that the store can no
    longer decode (damaged since it was indexed) keeps its record, with `fields` null and
    `damaged` saying why."""
    entries = index.entries(where, after_position=after_position, limit=limit)
    events = events_of(application, entries)
    records = []
    for entry in entries:
        record: dict[str, Any] = {
            "position": entry.position,
            "recorded_at": entry.recorded_at,
            "chat_id": entry.chat_id,
            "user_id": entry.user_id,
            "event_type": entry.event_type,
            "message_id": entry.message_id,
            "version": entry.version,
            "hash": entry.event_hash,
        }
        event = events.get((entry.chat_id, entry.version))
        if event is None or isinstance(event, UnreadableEvent):
            record["fields"] = None
            record["damaged"] = event.reason if event is not None else "the event is gone"
        else:
            record["fields"] = recorded_fields(event, with_content, application.protector)
        records.append(record)
    return records


def events_of(
    application: ChatApplication, entries: list[AuditEntry]
) -> dict[tuple[str, int], Any]:
    """The page's events, read per chat as one range of versions."""
    versions: dict[str, list[int]] = {}
    for entry in entries:
        versions.setdefault(entry.chat_id, []).append(entry.version)
    events = {}
    for chat_id, chat_versions in versions.items():
        for event in readable_events(
            application, chat_id, gt=min(chat_versions) - 1, lte=max(chat_versions)
        ):
            version = event.version if isinstance(event, UnreadableEvent) else None
            events[(chat_id, version or event.originator_version)] = event
    return events
