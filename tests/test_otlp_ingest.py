"""OTLP/HTTP trace ingest through the real server on each backend: spans exported by the real
OpenTelemetry SDK's OTLP/HTTP exporter become messages that replay shows; the same span twice
records nothing new; what cannot be mapped is counted in OTLP's partial success, never half
recorded; hostile bodies answer a coded error, never a 500."""

from __future__ import annotations

import gzip
import json
import uuid
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chatledger.infrastructure.integrations.genai_spans import mapped_span
from chatledger.infrastructure.integrations.otlp_traces import PlainSpan, SpanEvent
from chatledger.infrastructure.security.api_keys import Role
from tests.http_server import Api

SYSTEM = "Answer briefly."
ASK = "What is the weather in Paris? 🙂"
ANSWER = "Sunny, 18 °C."


def chat_span_attributes(
    chat_id: str, history: list[dict[str, Any]], answer: str
) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat", "gen_ai.conversation.id": chat_id,
        "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
        "gen_ai.request.temperature": 0.2, "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.response.id": f"chatcmpl-{uuid.uuid4().hex[:8]}",
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": 21, "gen_ai.usage.output_tokens": 6,
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": SYSTEM}]),
        "gen_ai.input.messages": json.dumps(history),
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "finish_reason": "stop",
                                               "parts": [{"type": "text", "content": answer}]}]),
    }  # fmt: skip


def user_turn(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"type": "text", "content": text}]}


class Exporting:
    """The real SDK: a tracer whose spans go to the server's /v1/traces, and are kept too."""

    def __init__(self, base_url: str, key: str) -> None:
        self.exporter = OTLPSpanExporter(endpoint=f"{base_url}/v1/traces",
                                         headers={"Authorization": key})  # fmt: skip
        self.kept = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": "chat-app"}))
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.provider.add_span_processor(SimpleSpanProcessor(self.kept))

    def span(self, attributes: dict[str, Any]) -> ReadableSpan:
        with self.provider.get_tracer("test").start_as_current_span("chat gpt-4o") as span:
            span.set_attributes(attributes)
        return self.kept.get_finished_spans()[-1]


def replayed(client: httpx.Client, chat_id: str) -> list[tuple[str, str]]:
    answer = client.get(f"/v1/chats/{chat_id}/replay")
    assert answer.status_code == 200, answer.text
    return [(m["role"], m["content"]) for m in answer.json()["chat"]["messages"]]


def test_spans_of_the_real_sdk_become_messages_once(api: Api, ann: httpx.Client) -> None:
    chat_id = f"otel-{uuid.uuid4().hex[:8]}"
    sdk = Exporting(api.base_url, ann.headers["Authorization"])
    first = sdk.span(chat_span_attributes(chat_id, [user_turn(ASK)], ANSWER))
    assert replayed(ann, chat_id) == [("system", SYSTEM), ("user", ASK), ("assistant", ANSWER)]
    assert sdk.exporter.export([first]) is SpanExportResult.SUCCESS  # the same span again
    said = {"role": "assistant", "parts": [{"type": "text", "content": ANSWER}]}
    history = [user_turn(ASK), said, user_turn("And tomorrow?")]
    sdk.span(chat_span_attributes(chat_id, history, "Rain."))
    assert replayed(ann, chat_id) == [
        ("system", SYSTEM), ("user", ASK), ("assistant", ANSWER), ("user", "And tomorrow?"),
        ("assistant", "Rain."),
    ]  # fmt: skip
    api.settled()
    rows = ann.get(f"/v1/chats/{chat_id}/messages", params={"role": "assistant"}).json()
    reply = rows["messages"][0]
    assert (reply["model"], reply["response_model"], reply["provider"]) == (
        "gpt-4o", "gpt-4o-2024-08-06", "openai")  # fmt: skip
    assert (reply["provider_input_tokens"], reply["finish_reasons"]) == (21, '["stop"]')
    assert reply["generation_ms"] is not None and reply["temperature"] == 0.2
    assert ann.get("/v1/verify", params={"chat_id": chat_id}).json()["intact"]


def export(client: httpx.Client, body: bytes | dict[str, Any], **headers: str) -> httpx.Response:
    if isinstance(body, dict):
        return client.post("/v1/traces", content=json.dumps(body).encode(),
                           headers={"Content-Type": "application/json", **headers})  # fmt: skip
    return client.post("/v1/traces", content=body,
                       headers={"Content-Type": "application/x-protobuf", **headers})  # fmt: skip


def json_export(*spans: dict[str, Any]) -> dict[str, Any]:
    scope = {"scope": {"name": "t"}, "spans": list(spans)}
    return {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [scope]}]}


def json_span(attributes: dict[str, Any], name: str = "chat") -> dict[str, Any]:
    def value(v: Any) -> dict[str, Any]:
        if isinstance(v, bool):
            return {"boolValue": v}
        if isinstance(v, int):
            return {"intValue": str(v)}
        if isinstance(v, float):
            return {"doubleValue": v}
        if isinstance(v, list):
            return {"arrayValue": {"values": [value(x) for x in v]}}
        return {"stringValue": v}

    return {"traceId": uuid.uuid4().hex, "spanId": uuid.uuid4().hex[:16], "name": name,
            "kind": 3, "startTimeUnixNano": "1764806400000000000",
            "endTimeUnixNano": "1764806400250000000",
            "attributes": [{"key": k, "value": value(v)}
                           for k, v in attributes.items()]}  # fmt: skip


# A tool's answer that names no call: refused, and with it the span's other messages.
NO_CALL_ID = {"role": "user", "parts": [{"type": "tool_call_response", "response": "bad"}]}


def partial(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json().get("partialSuccess", {})
    return found


def test_json_and_gzip_exports_record_openllmetry_spans(ann: httpx.Client) -> None:
    chat_id = f"otel-{uuid.uuid4().hex[:8]}"
    span = json_span({"gen_ai.system": "Anthropic", "gen_ai.conversation.id": chat_id,
                      "gen_ai.request.model": "claude-3-5-sonnet",
                      "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": ASK,
                      "gen_ai.completion.0.role": "assistant",
                      "gen_ai.completion.0.content": ANSWER,
                      "gen_ai.completion.0.finish_reason": "end_turn"})  # fmt: skip
    assert partial(export(ann, json_export(span))) == {}
    zipped = gzip.compress(json.dumps(json_export(span)).encode())
    again = ann.post("/v1/traces", content=zipped, headers={
        "Content-Type": "application/json", "Content-Encoding": "gzip"})  # fmt: skip
    assert partial(again) == {}
    assert replayed(ann, chat_id) == [("user", ASK), ("assistant", ANSWER)]


def test_spans_it_cannot_map_are_counted_and_record_nothing(api: Api, ann: httpx.Client) -> None:
    chat_id = f"otel-{uuid.uuid4().hex[:8]}"
    spans = [
        json_span({"http.method": "GET"}, name="GET /"),
        json_span({"gen_ai.operation.name": "chat", "gen_ai.input.messages": "[]"}),
        json_span(chat_span_attributes(chat_id, [user_turn("fine"), NO_CALL_ID], "x")),
        json_span({**chat_span_attributes(chat_id, [user_turn(ASK)], ANSWER), "user.id": "bob"}),
        json_span({**chat_span_attributes(chat_id, [user_turn(ASK)], ANSWER),
                   "gen_ai.request.temperature": 9.5}),
    ]  # fmt: skip
    found = partial(export(ann, json_export(*spans)))
    assert found["rejectedSpans"] == "5"
    for reason in ("not a GenAI span", "no gen_ai.conversation.id", "VALIDATION_ERROR",
                   "user mismatch"):  # fmt: skip
        assert reason in found["errorMessage"]
    assert "bad" not in found["errorMessage"] and ASK not in found["errorMessage"]
    assert ann.get(f"/v1/chats/{chat_id}/replay").status_code == 404  # not even its start


@pytest.mark.parametrize(("body", "headers", "status"), [
    (b"\x0a\xff\xff\xff", {}, 400),  # protobuf cut short
    (b"not protobuf at all \x00\x01", {}, 400),
    (b'{"resourceSpans": [', {"Content-Type": "application/json"}, 400),
    (b'[{"resourceSpans": []}]', {"Content-Type": "application/json"}, 400),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
     {"Content-Type": "application/json"}, 400),
    (b"\x1f\x8b not gzip", {"Content-Encoding": "gzip"}, 400),
    (b"{}", {"Content-Type": "text/plain"}, 415),
    (b"x" * (2 * 1024 * 1024), {}, 413),
])  # fmt: skip
def test_hostile_bodies_answer_coded_and_never_500(
    ann: httpx.Client, body: bytes, headers: dict[str, str], status: int
) -> None:
    answer = ann.post("/v1/traces", content=body,
                      headers={"Content-Type": "application/x-protobuf", **headers})  # fmt: skip
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == "VALIDATION_ERROR"


def test_a_lone_surrogate_or_a_gzip_bomb_is_refused(ann: httpx.Client) -> None:
    chat_id = f"otel-{uuid.uuid4().hex[:8]}"
    text = json.dumps(
        json_export(json_span(chat_span_attributes(chat_id, [user_turn(ASK)], ANSWER)))
    )
    lone = text.replace("Sunny", "\\ud800Sunny").encode()
    answer = ann.post("/v1/traces", content=lone, headers={"Content-Type": "application/json"})
    assert answer.status_code in (200, 400)
    if answer.status_code == 200:
        assert partial(answer)["rejectedSpans"] == "1"
    bomb = gzip.compress(b"\x00" * (64 * 1024 * 1024))
    answer = ann.post("/v1/traces", content=bomb, headers={
        "Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})  # fmt: skip
    assert answer.status_code == 400
    assert ann.get(f"/v1/chats/{chat_id}/replay").status_code == 404


def test_only_a_writing_key_exports(api: Api) -> None:
    body = json.dumps(json_export()).encode()
    with httpx.Client(base_url=api.base_url) as anonymous:
        assert anonymous.post("/v1/traces", content=body).status_code == 401
    with api.client(Role.auditor) as auditor:
        refused = auditor.post("/v1/traces", content=body,
                               headers={"Content-Type": "application/json"})  # fmt: skip
        assert refused.status_code == 403


def test_the_answer_is_otlp_in_the_requests_encoding(ann: httpx.Client) -> None:
    empty = ExportTraceServiceRequest().SerializeToString()
    answer = ann.post("/v1/traces", content=empty,
                      headers={"Content-Type": "application/x-protobuf"})  # fmt: skip
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/x-protobuf"
    assert not ExportTraceServiceResponse.FromString(answer.content).HasField("partial_success")


CALL = json.dumps(
    {
        "content": "",
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
        ],
    }
)


def test_the_earlier_span_events_are_read_too() -> None:
    span = PlainSpan("t" * 32, "s" * 16, "chat", 1, 2_000_001, {
        "gen_ai.conversation.id": "c-1", "gen_ai.request.model": "gpt-4"}, [
        SpanEvent("gen_ai.system.message", {"content": SYSTEM}),
        SpanEvent("gen_ai.user.message", {"content": ASK}),
        SpanEvent("gen_ai.choice", {"index": 0, "finish_reason": "tool_calls", "message": CALL}),
    ])  # fmt: skip
    mapped = mapped_span(span, "user.id")
    assert not isinstance(mapped, str)
    assert [m["role"] for m in mapped.messages] == ["system", "user", "assistant"]
    reply = mapped.messages[-1]
    assert reply["finish_reasons"] == ["tool_calls"] and reply["tool_calls"][0]["id"] == "call_1"
    assert reply["generation_ms"] == 2.0 and reply["model"] == "gpt-4"
