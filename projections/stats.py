"""Persistence statistics as pre-aggregated integer counters, and their summary.

Every event adds integer deltas to counters keyed by (scope, bucket, metric, key): scopes are the
user and the chat, buckets are "all" and the hour the message was created in. A query sums the
counters of one scope over "all" or over the hours of its range, so its cost depends on the
range and the number of distinct keys, never on the number of messages. Durations are summed in
integer microseconds so that any order of addition gives the same total, and percentiles come
from log-scale histograms with bins 10% wide (the reported figure is the bin's upper bound).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple

from pydantic import BaseModel

from chatledger.domain.chat import Chat, ChatEvent

StatKey = tuple[str, str, str, str]  # scope, bucket, metric, key
ALL_TIME = "all"
BIN_GROWTH = 1.1


def hour_bucket(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H")


def histogram_bin(milliseconds: float) -> int:
    microseconds = max(1.0, milliseconds * 1000.0)
    return math.floor(math.log(microseconds, BIN_GROWTH))


def bin_upper_ms(index: int) -> float:
    return round(BIN_GROWTH ** (index + 1) / 1000.0, 3)


def _micros(milliseconds: float | None) -> int:
    return round((milliseconds or 0.0) * 1000)


def _figures(event: ChatEvent) -> list[tuple[str, str, int]]:
    """(metric, key, delta) of one event, before scoping; each (metric, key) at most once."""
    fields = vars(event)
    figures: list[tuple[str, str, int]] = []
    add = figures.append
    if isinstance(event, _RECORDED):
        add(("messages", f"{event.role}:recorded", 1))
    elif isinstance(event, Chat.StreamOpened):
        add(("messages", "assistant:streaming", 1))
    elif isinstance(event, Chat.StreamCompleted | Chat.StreamFailed):
        status = "completed" if isinstance(event, Chat.StreamCompleted) else "failed"
        if fields["error_code"] == "STREAM_ABANDONED":
            status = "abandoned"
            add(("streams_abandoned", "", 1))
        add(("messages", "assistant:streaming", -1))
        add(("messages", f"assistant:{status}", 1))
        add(("stream_chunks", "", fields["chunk_count"]))
        add(("streams_closed", "", 1))
        if fields["first_chunk_ms"] is not None:
            add(("ttfc_hist", str(histogram_bin(fields["first_chunk_ms"])), 1))
            add(("ttfc_us", "", _micros(fields["first_chunk_ms"])))
    tokens = fields.get("tokens")
    if tokens:
        add(("tokens_own", "", tokens["count"]))
    usage = fields.get("usage")
    if usage:
        add(("tokens_provider_input", "", usage.get("input_tokens") or 0))
        add(("tokens_provider_output", "", usage.get("output_tokens") or 0))
    if "processing_ms" in fields:
        add(("processing_us", "", _micros(fields["processing_ms"])))
        add(("processing_n", "", 1))
        add(("processing_hist", str(histogram_bin(fields["processing_ms"])), 1))
    if fields.get("error_code"):
        add(("errors", fields["error_code"], 1))
    if fields.get("intent"):
        add(("intents", fields["intent"]["name"], 1))
    if isinstance(event, Chat.AssistantMessageRecorded | Chat.StreamOpened):
        add(("models", fields.get("model") or "unknown", 1))
    for reason in dict.fromkeys(fields.get("finish_reasons") or ()):
        add(("finish_reasons", reason, 1))
    if fields.get("tool_calls"):
        model = fields.get("response_model") or fields.get("model") or "unknown"
        add(("tool_calls", model, len(fields["tool_calls"])))
    return figures


# Messages recorded whole, in one event (streams open and close in two).
_RECORDED = (Chat.UserMessageRecorded, Chat.AssistantMessageRecorded, Chat.PromptMessage)


class EventFigures(NamedTuple):
    """What one message event adds, before scoping: its user's and chat's scopes, its hour."""

    user_scope: str
    chat_scope: str
    hour: str
    figures: list[tuple[str, str, int]]  # (metric, key, delta)


def event_figures(event: ChatEvent) -> EventFigures | None:
    if not isinstance(event, Chat.MessageEvent):
        return None
    fields = vars(event)
    opened_at = fields.get("opened_at")
    created = datetime.fromisoformat(opened_at) if opened_at else event.timestamp
    return EventFigures(
        f"user:{fields['user_id']}", f"chat:{event.originator_id}", hour_bucket(created),
        [figure for figure in _figures(event) if figure[2]],
    )  # fmt: skip


def stat_deltas(event: ChatEvent) -> list[tuple[StatKey, int]]:
    """Counter deltas of one event for each scope and bucket it belongs to (the definition;
    StatBatch, projections/batches.py, adds up many events' to the same counters)."""
    figures = event_figures(event)
    if figures is None:
        return []
    scopes, buckets = (figures.user_scope, figures.chat_scope), (ALL_TIME, figures.hour)
    return [
        ((scope, bucket, metric, key), value)
        for metric, key, value in figures.figures
        for scope in scopes for bucket in buckets
    ]  # fmt: skip


class Percentiles(BaseModel):
    count: int
    average_ms: float | None
    p50_ms: float | None
    p95_ms: float | None


class StreamingFigures(BaseModel):
    time_to_first_chunk: Percentiles
    average_chunks: float | None
    abandoned: int


class PersistenceStats(BaseModel):
    scope: str
    since_hour: str | None
    messages: int
    messages_by_role: dict[str, int]
    messages_by_status: dict[str, int]
    tokens_own: int
    tokens_provider_input: int
    tokens_provider_output: int
    processing_time: Percentiles
    errors_by_code: dict[str, int]
    intents: dict[str, int]
    models: dict[str, int]
    # Replies by each reason they stopped for (stop, length, tool_calls, content_filter, ...).
    finish_reasons: dict[str, int]
    tool_calls_by_model: dict[str, int]  # calls the replies of each responding model made
    streaming: StreamingFigures


def percentile_of(histogram: dict[int, int], fraction: float) -> float | None:
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(fraction * total))
    seen = 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return bin_upper_ms(index)
    return None  # pragma: no cover - the loop always reaches rank


def summarise(
    scope: str, since_hour: str | None, counters: Iterable[tuple[str, str, int]]
) -> PersistenceStats:
    """Turn summed (metric, key, value) counters into the figures a dashboard shows."""
    by_metric: dict[str, dict[str, int]] = {}
    for metric, key, value in counters:
        if value:
            by_metric.setdefault(metric, {})[key] = int(value)

    def scalar(metric: str) -> int:
        return by_metric.get(metric, {}).get("", 0)

    messages = by_metric.get("messages", {})
    roles: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    for role_status, count in messages.items():
        role, status = role_status.split(":")
        roles[role] += count
        statuses[status] += count
    processing_n = scalar("processing_n")
    processing_hist = {int(k): v for k, v in by_metric.get("processing_hist", {}).items()}
    ttfc_hist = {int(k): v for k, v in by_metric.get("ttfc_hist", {}).items()}
    closed = scalar("streams_closed")
    return PersistenceStats(
        scope=scope,
        since_hour=since_hour,
        messages=sum(roles.values()),
        messages_by_role=dict(sorted(roles.items())),
        messages_by_status=dict(sorted((+statuses).items())),
        tokens_own=scalar("tokens_own"),
        tokens_provider_input=scalar("tokens_provider_input"),
        tokens_provider_output=scalar("tokens_provider_output"),
        processing_time=Percentiles(
            count=processing_n,
            average_ms=_average_ms(scalar("processing_us"), processing_n),
            p50_ms=percentile_of(processing_hist, 0.50),
            p95_ms=percentile_of(processing_hist, 0.95),
        ),
        errors_by_code=dict(sorted(by_metric.get("errors", {}).items())),
        intents=dict(sorted(by_metric.get("intents", {}).items())),
        models=dict(sorted(by_metric.get("models", {}).items())),
        finish_reasons=dict(sorted(by_metric.get("finish_reasons", {}).items())),
        tool_calls_by_model=dict(sorted(by_metric.get("tool_calls", {}).items())),
        streaming=StreamingFigures(
            time_to_first_chunk=Percentiles(
                count=sum(ttfc_hist.values()),
                average_ms=_average_ms(scalar("ttfc_us"), sum(ttfc_hist.values())),
                p50_ms=percentile_of(ttfc_hist, 0.50),
                p95_ms=percentile_of(ttfc_hist, 0.95),
            ),
            average_chunks=round(scalar("stream_chunks") / closed, 3) if closed else None,
            abandoned=scalar("streams_abandoned"),
        ),
    )


def _average_ms(total_us: int, count: int) -> float | None:
    return round(total_us / count / 1000, 3) if count else None


def since_hour(now: datetime, hours: int) -> str:
    """Ranges are hour-aligned: the last N hours start at the hour that began N hours ago."""
    return hour_bucket(now - timedelta(hours=hours))
