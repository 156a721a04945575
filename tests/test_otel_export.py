"""OpenTelemetry out, on each backend: every recorded message becomes a GenAI span through the
real OpenTelemetry SDK; no content unless asked; never an erased user's; a second run emits
nothing again, and a restart goes on from the position kept in the database. The SDK's real
OTLP/HTTP exporter delivers them to an HTTP server that reads the protobuf."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from typer.testing import CliRunner

from chatledger import Ledger, export_spans
from chatledger.infrastructure.cli.main import app
from chatledger.infrastructure.integrations.otel_export import SpanExport
from chatledger.infrastructure.read_store.read_models import read_model_database
from chatledger.infrastructure.tokenizer.tiktoken_counter import TiktokenCounter


def record_conversation(ledger: Ledger) -> None:
    ledger.record_conversation("chat-1", "alice", [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris? 🙂"},
    ], model="gpt-4o")  # fmt: skip
    call = {"id": "call_1", "name": "weather", "arguments": '{"city": "Paris"}'}
    assert ledger.persist_assistant_message(
        "chat-1", "alice", "", model="gpt-4o", provider="openai", tool_calls=[call],
        finish_reasons=["tool_calls"], response_id="chatcmpl-1", temperature=0.2,
        usage={"input_tokens": 20, "output_tokens": 5}, generation_ms=250.0,
    ).success  # fmt: skip
    assert ledger.persist_messages("chat-1", "alice", [
        {"role": "tool", "tool_call_id": "call_1", "content": "18 °C"}]).success  # fmt: skip
    opened = ledger.open_stream("chat-1", "alice", model="gpt-4o")
    assert opened.stream is not None
    opened.stream.add_chunk("Sunny, ")
    opened.stream.add_chunk("18 °C.")
    assert ledger.complete_stream(opened.stream, finish_reasons=["stop"]).success
    failing = ledger.open_stream("chat-1", "alice", model="gpt-4o")
    assert failing.stream is not None
    assert ledger.fail_stream(failing.stream, "PROVIDER_TIMEOUT").success


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def exported(ledger: Ledger, into: InMemorySpanExporter, capture: bool = False) -> int:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(into))
    database = read_model_database(ledger.settings)
    try:
        return SpanExport(ledger.pipeline, database, provider, capture_content=capture).run()
    finally:
        database.close()


def by_name(spans: list[ReadableSpan]) -> dict[str, list[ReadableSpan]]:
    found: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        found.setdefault(span.name, []).append(span)
    return found


def test_every_message_is_a_genai_span_without_content(
    ledger: Ledger, spans: InMemorySpanExporter
) -> None:
    record_conversation(ledger)
    assert exported(ledger, spans) == 6
    found = by_name(list(spans.get_finished_spans()))
    assert sorted(found) == ["chat gpt-4o", "chat unknown", "system message", "tool message",
                             "user message"]  # fmt: skip
    call, streamed = found["chat gpt-4o"]
    assert call.kind is SpanKind.CLIENT and found["user message"][0].kind is SpanKind.INTERNAL
    attributes = dict(call.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.conversation.id"] == "chat-1"
    assert tuple(attributes["gen_ai.response.finish_reasons"]) == ("tool_calls",)  # type: ignore[arg-type]
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.request.temperature"]) == (
        20, 0.2)  # fmt: skip
    assert call.end_time is not None and call.start_time is not None
    assert (call.end_time - call.start_time) == 250_000_000  # the generation's time
    assert dict(streamed.attributes or {})["chatledger.stream.chunk_count"] == 2
    failed = found["chat unknown"][0]
    assert failed.status.status_code is StatusCode.ERROR
    assert dict(failed.attributes or {})["error.type"] == "PROVIDER_TIMEOUT"
    every = list(spans.get_finished_spans())
    assert len({s.context.trace_id for s in every if s.context}) == 1  # one trace per chat
    assert not any(k.startswith("gen_ai.input") or k.startswith("gen_ai.output")
                   for s in every for k in (s.attributes or {}))  # fmt: skip
    assert "Paris" not in json.dumps([dict(s.attributes or {}) for s in every], default=str)


def test_content_only_when_asked_and_never_an_erased_users(
    ledger: Ledger, spans: InMemorySpanExporter
) -> None:
    record_conversation(ledger)
    assert exported(ledger, spans, capture=True) == 6
    found = by_name(list(spans.get_finished_spans()))
    asked = json.loads(
        str(dict(found["user message"][0].attributes or {})["gen_ai.input.messages"])
    )
    assert asked == [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris? 🙂"}]}
    ]
    streamed = found["chat gpt-4o"][1]
    answer = json.loads(str(dict(streamed.attributes or {})["gen_ai.output.messages"]))
    assert (
        answer[0]["parts"][0]["content"] == "Sunny, 18 °C." and answer[0]["finish_reason"] == "stop"
    )
    ledger.erase_user("alice", reason="GDPR Art. 17", requested_by="dpo")
    again = InMemorySpanExporter()
    database = read_model_database(ledger.settings)
    try:  # a new exporter name: everything again, after the erasure
        export = SpanExport(ledger.pipeline, database, provider_into(again), capture_content=True,
                            name="after-erasure")  # fmt: skip
        export.run()
    finally:
        database.close()
    texts = json.dumps([dict(s.attributes or {}) for s in again.get_finished_spans()], default=str)
    assert "Paris" not in texts and "Sunny" not in texts


def attribute(span: ReadableSpan, name: str) -> Any:
    return dict(span.attributes or {})[name]


def provider_into(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def test_a_second_run_and_a_restart_emit_only_what_is_new(
    database_url: str, token_counter: TiktokenCounter, spans: InMemorySpanExporter
) -> None:
    with Ledger(database_url, token_counter=token_counter) as ledger:
        record_conversation(ledger)
        assert exported(ledger, spans) == 6
        assert exported(ledger, spans) == 0
    with Ledger(database_url, token_counter=token_counter) as restarted:
        restarted.persist_user_message("chat-1", "alice", "Thanks!")
        assert exported(restarted, spans) == 1


class Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        Collector.received.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    Collector.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    server.shutdown()
    server.server_close()


def test_the_real_otlp_exporter_delivers_them(ledger: Ledger, collector: str) -> None:
    record_conversation(ledger)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=collector)))
    database = read_model_database(ledger.settings)
    try:
        assert SpanExport(ledger.pipeline, database, provider).run() == 6
    finally:
        database.close()
    names = []
    for body in Collector.received:
        request = ExportTraceServiceRequest.FromString(body)
        names += [
            s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans
        ]
    assert sorted(names) == sorted(["system message", "user message", "chat gpt-4o",
                                    "tool message", "chat gpt-4o", "chat unknown"])  # fmt: skip


def test_the_command_exports_and_says_how_many(
    database_url: str, token_counter: TiktokenCounter, collector: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    with Ledger(database_url, token_counter=token_counter) as ledger:
        record_conversation(ledger)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", collector)
    result = CliRunner().invoke(app, ["otel-export", "--database-url", database_url, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])["spans"] == 6
    assert Collector.received


def test_without_the_otel_extra_the_command_names_it(database_url: str) -> None:
    code = ("import sys; sys.modules['opentelemetry.sdk.trace'] = None\n"
            "from chatledger.infrastructure.cli.main import app\n"
            f"app(['otel-export', '--database-url', {database_url!r}])")  # fmt: skip
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert shown.returncode == 2, shown.stderr
    assert "pip install 'chatledger[otel]'" in shown.stderr


def test_export_spans_is_the_python_api(ledger: Ledger, spans: InMemorySpanExporter) -> None:
    record_conversation(ledger)
    assert export_spans(ledger, provider_into(spans)) == 6
    assert export_spans(ledger, provider_into(spans)) == 0


def test_a_refused_export_keeps_the_position_and_exits_1(
    database_url: str, token_counter: TiktokenCounter, monkeypatch: pytest.MonkeyPatch,
    collector: str,
) -> None:  # fmt: skip
    with Ledger(database_url, token_counter=token_counter) as ledger:
        record_conversation(ledger)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/v1/traces"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", closed)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    refused = CliRunner().invoke(app, ["otel-export", "--database-url", database_url])
    assert refused.exit_code == 1, refused.output
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", collector)
    delivered = CliRunner().invoke(app, ["otel-export", "--database-url", database_url, "--json"])
    assert delivered.exit_code == 0, delivered.output
    assert json.loads(delivered.stdout.splitlines()[-1])["spans"] == 6  # nothing was lost
