"""The read models computed directly from the events, in memory: what every view must equal."""

from __future__ import annotations

from collections import Counter
from typing import Any

from chatledger.domain import unreadable_events as readable
from chatledger.domain.chat import ChatEvent
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.projections.changes import audit_entry, message_change
from chatledger.projections.read_side import ReadSide
from chatledger.projections.rows import ContentErased, MessageClosed, MessageRow, erased
from chatledger.projections.stats import StatKey, stat_deltas


def all_events(pipeline: PersistencePipeline) -> list[tuple[int, ChatEvent]]:
    """Every event that decodes, with its position (the read models quarantine the others)."""
    notifications = pipeline.recorder.select_notifications(1, 10_000_000)
    decoded = [(n.id, readable.decoded(pipeline, n)) for n in notifications]
    return [(position, event) for position, event in decoded
            if not isinstance(event, readable.UnreadableEvent)]  # fmt: skip


def expected_dumps(pipeline: PersistencePipeline) -> dict[str, list[tuple[Any, ...]]]:
    rows: dict[tuple[str, str], MessageRow] = {}
    counters: Counter[StatKey] = Counter()
    audit = []
    for position, event in all_events(pipeline):
        change = message_change(event, position, pipeline.protector)
        if isinstance(change, ContentErased):
            rows = {k: erased(r) if r.user_id == change.user_id else r for k, r in rows.items()}
        elif isinstance(change, MessageRow):
            rows.setdefault((change.chat_id, change.message_id), change)
        elif isinstance(change, MessageClosed):
            key = (change.chat_id, change.message_id)
            rows[key] = rows[key]._replace(**change._asdict())
        for counter, value in stat_deltas(event):
            counters[counter] += value
        audit.append(tuple(audit_entry(event, position)))
    return {
        "messages": [tuple(rows[key]) for key in sorted(rows)],
        "stats": sorted((*key, value) for key, value in counters.items() if value),
        "audit": audit,
    }


def actual_dumps(
    read_side: ReadSide, generation: dict[str, int] | None = None
) -> dict[str, list[tuple[Any, ...]]]:
    generation = generation or {}
    dumps = {
        name: runner.view.dump(generation.get(name)) for name, runner in read_side.runners.items()
    }
    dumps["stats"] = [row for row in dumps["stats"] if row[-1]]  # a counter back at 0 says nothing
    return dumps
