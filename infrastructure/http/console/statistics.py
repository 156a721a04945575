"""Statistics: charts of a user's or a chat's figures, for all time or the last N hours, from
the statistics read model (pre-aggregated counters: constant time whatever the history)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from eventsourcing.persistence import PersistenceError
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from chatledger.infrastructure.http.console.access import AuditorDep, render
from chatledger.infrastructure.http.console.conversation import chat_of
from chatledger.infrastructure.http.context import StoreUnavailableError, wired_services
from chatledger.projections.read_side import MAX_RANGE_HOURS
from chatledger.projections.stats import PersistenceStats, hour_bucket, since_hour

router = APIRouter(prefix="/console", include_in_schema=False)
VOLUME_HOURS = 48  # the volume chart's span when no range is asked for
Text = Annotated[str, Query(max_length=200)]


def hours_of(since: str, now: datetime) -> list[str]:
    start = datetime.strptime(since, "%Y-%m-%dT%H").replace(tzinfo=UTC)
    count = int((now - start).total_seconds() // 3600) + 1
    return [hour_bucket(start + timedelta(hours=h)) for h in range(min(count, MAX_RANGE_HOURS))]


def chart_data(stats: PersistenceStats, volume: list[tuple[str, int]], since: str,
               now: datetime) -> dict[str, Any]:  # fmt: skip
    """What the charts draw: one entry per chart, labels and named series (null where nothing
    was measured), and whether it has anything to draw at all."""
    per_hour = dict(volume)
    hours = hours_of(since, now)
    processing, ttfc = stats.processing_time, stats.streaming.time_to_first_chunk

    def keyed(title: str, figures: dict[str, int]) -> dict[str, Any]:
        return {"title": title, "labels": list(figures),
                "series": [{"name": title, "values": list(figures.values())}]}  # fmt: skip

    charts = {
        "volume": {"title": "Messages per hour", "labels": [h[5:] + "h" for h in hours],
                   "series": [{"name": "messages",
                               "values": [per_hour.get(h, 0) for h in hours]}]},
        "tokens": {"title": "Tokens, own count vs provider's",
                   "labels": ["own (tiktoken)", "provider input", "provider output"],
                   "series": [{"name": "tokens", "values": [
                       stats.tokens_own, stats.tokens_provider_input,
                       stats.tokens_provider_output]}]},
        "latency": {"title": "Latency (ms)", "labels": ["p50", "p95"],
                    "series": [{"name": "processing", "values": [processing.p50_ms,
                                                                   processing.p95_ms]},
                               {"name": "first chunk", "values": [ttfc.p50_ms,
                                                                    ttfc.p95_ms]}]},
        "errors": keyed("Errors by code", stats.errors_by_code),
        "intents": keyed("Intents", stats.intents),
        "models": keyed("Models", stats.models),
        "finish_reasons": keyed("Finish reasons", stats.finish_reasons),
    }  # fmt: skip
    return {name: chart | {"empty": not any(v for s in chart["series"] for v in s["values"])}
            for name, chart in charts.items()}  # fmt: skip


@router.get("/stats")
def statistics(
    request: Request, auditor: AuditorDep, user_id: Text = "", chat_id: Text = "",
    hours: Annotated[int | None, Query(ge=1, le=MAX_RANGE_HOURS)] = None,
) -> Response:  # fmt: skip
    wired = wired_services(request)
    context: dict[str, Any] = {"auditor": auditor, "user_id": user_id, "chat_id": chat_id,
                               "hours": hours, "stats": None, "charts": None,
                               "problem": None}  # fmt: skip
    if not (user_id or chat_id):
        return render(request, "stats.html", context)
    owner = user_id
    if chat_id:
        chat = chat_of(wired, chat_id)
        owner = chat.owner_id if chat else user_id or "-"
    result = wired.read_side.get_message_persistence_stats(owner, chat_id or None, hours)
    if result.stats is None:
        context["problem"] = result.error.message if result.error else "no statistics"
        return render(request, "stats.html", context, 404 if chat_id else 422)
    now = datetime.now(UTC)
    since = result.stats.since_hour or since_hour(now, VOLUME_HOURS)
    scope = f"chat:{chat_id}" if chat_id else f"user:{owner}"
    try:
        volume = wired.read_side.stats.hourly(scope, "messages", since)
    except PersistenceError:
        raise StoreUnavailableError from None
    context |= {"stats": result.stats, "charts": chart_data(result.stats, volume, since, now)}
    return render(request, "stats.html", context)
