"""OpenTelemetry out: every recorded message, as a GenAI span (otel_spans.py), through the
OpenTelemetry SDK to whatever exporter the tracer provider has (OTLP/HTTP by default, set by the
standard OTEL_EXPORTER_OTLP_* variables).

It follows the event log as a projection does, in log order, and remembers the position it has
emitted up to in the database (`otel_export_position`), written after the provider has flushed
the page's spans: a restart goes on from there. At least once: a crash between the flush and the
position's write sends that page again. An event that cannot be read is logged and passed."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import structlog

from chatledger.domain.ports import ERASED_CONTENT
from chatledger.domain.sealed_fields import opened_content
from chatledger.infrastructure.bootstrap import shared_read_models
from chatledger.infrastructure.integrations.otel_spans import SpanPlan, chat_trace_ids, span_plan
from chatledger.infrastructure.read_store.sql_database import SqlDatabase

PAGE = 500
SCHEMA = ("CREATE TABLE IF NOT EXISTS otel_export_position (exporter TEXT PRIMARY KEY, "
          "position BIGINT NOT NULL)")  # fmt: skip
log = structlog.get_logger("chatledger.otel")


class SpanExport:
    def __init__(
        self, pipeline: Any, database: SqlDatabase, tracer_provider: Any, *,
        capture_content: bool = False, name: str = "otlp", watch: WatchedExporter | None = None,
    ) -> None:  # fmt: skip
        self.pipeline = pipeline
        self.watch = watch  # tells of refused exports, which the SDK only logs
        self.database = database
        self.provider = tracer_provider
        self.tracer = tracer_provider.get_tracer("chatledger")
        self.capture_content = capture_content
        self.name = name
        with database.transaction() as cursor:
            database.lock_schema(cursor)
            cursor.execute(SCHEMA)

    def position(self) -> int:
        with self.database.transaction(write=False) as cursor:
            cursor.execute("SELECT position FROM otel_export_position WHERE exporter = ?",
                           (self.name,))  # fmt: skip
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    def run(self, follow: bool = False, poll_s: float = 1.0,
            stop: Callable[[], bool] = lambda: False) -> int:  # fmt: skip
        """Emit what was recorded since the last run; with `follow`, go on until `stop`."""
        emitted = 0
        while not stop():
            page = self.pipeline.recorder.select_notifications(self.position() + 1, PAGE)
            if page:
                emitted += self.emit_page(page)
            elif not follow:
                break
            else:
                time.sleep(poll_s)
        return emitted

    def emit_page(self, page: list[Any]) -> int:
        refused_before = self.watch.refused if self.watch else 0
        emitted = 0
        for notification in page:
            plan = self.plan(notification)
            if plan is not None:
                self.emit(plan, notification.originator_id)
                emitted += 1
        flushed = self.provider.force_flush()
        if not flushed or (self.watch and self.watch.refused > refused_before):
            # The position stays: the next run sends this page again.
            raise ExportRefusedError("the span exporter did not take the spans")
        self.remember(page[-1].id)
        log.info("otel_spans_exported", spans=emitted, position=page[-1].id)
        return emitted

    def plan(self, notification: Any) -> SpanPlan | None:
        try:
            event = self.pipeline.mapper.to_domain_event(notification)
            return span_plan(event, self.content_of(event))
        except Exception as error:  # one event that cannot be read must not stop the rest
            log.warning("otel_event_skipped", position=notification.id,
                        chat_id=notification.originator_id, error=type(error).__name__)  # fmt: skip
            return None

    def content_of(self, event: Any) -> str | None:
        if not self.capture_content or not isinstance(getattr(event, "content", None), str):
            return None
        text = opened_content(event, self.pipeline.protector)
        return None if text == ERASED_CONTENT else text

    def emit(self, plan: SpanPlan, chat_id: str) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

        trace_id, parent_id = chat_trace_ids(chat_id)
        parent = SpanContext(trace_id, parent_id, is_remote=True,
                             trace_flags=TraceFlags(TraceFlags.SAMPLED))  # fmt: skip
        context = trace.set_span_in_context(trace.NonRecordingSpan(parent))
        kind = SpanKind.CLIENT if plan.client else SpanKind.INTERNAL
        span = self.tracer.start_span(
            plan.name, context=context, kind=kind, start_time=plan.start_ns,
            attributes=plan.attributes,
        )  # fmt: skip
        if plan.error_type:
            span.set_status(Status(StatusCode.ERROR, plan.error_type))
        span.end(end_time=plan.end_ns)

    def remember(self, position: int) -> None:
        with self.database.transaction() as cursor:
            cursor.execute("DELETE FROM otel_export_position WHERE exporter = ?", (self.name,))
            cursor.execute("INSERT INTO otel_export_position VALUES (?, ?)",
                           (self.name, position))  # fmt: skip


class ExportRefusedError(RuntimeError):
    """The exporter did not deliver a page's spans (the endpoint refused or was away)."""


class WatchedExporter:
    """An exporter that counts the exports it could not deliver: the SDK's processors log a
    refused export and go on, and the position must not move past spans never delivered."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.refused = 0

    def export(self, spans: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        result = self.inner.export(spans)
        if result is not SpanExportResult.SUCCESS:
            self.refused += 1
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))


def default_tracer_provider() -> tuple[Any, WatchedExporter]:
    """The SDK's provider with its OTLP/HTTP exporter, both configured by the standard
    OTEL_* environment variables (service.name defaults to chatledger), and its watch."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    named = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "chatledger"}
    provider = TracerProvider(resource=Resource.create(named))
    watch = WatchedExporter(OTLPSpanExporter())
    provider.add_span_processor(BatchSpanProcessor(watch))  # type: ignore[arg-type]
    return provider, watch


def export_spans(
    ledger: Any, tracer_provider: Any = None, *, capture_content: bool = False,
    follow: bool = False, stop: Callable[[], bool] = lambda: False,
) -> int:  # fmt: skip
    """What `chatledger otel-export` does, for a Ledger: the spans emitted. Without a tracer
    provider, the SDK's own with the OTLP/HTTP exporter (OTEL_* variables)."""
    provider, watch = (tracer_provider, None) if tracer_provider else default_tracer_provider()
    database = shared_read_models(ledger.settings, ledger.pipeline)
    try:
        export = SpanExport(ledger.pipeline, database, provider, capture_content=capture_content,
                            watch=watch)  # fmt: skip
        return export.run(follow=follow, stop=stop)
    finally:
        database.close()
        if tracer_provider is None:
            provider.shutdown()
