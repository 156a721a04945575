"""OTLP trace exports as they arrive over HTTP (protobuf or JSON, gzip or not), read into plain
spans with the opentelemetry-proto package's own message classes."""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

ID_FIELDS = ("traceId", "spanId", "parentSpanId")


class UnreadableExportError(ValueError):
    """Not an OTLP trace export in the encoding it claims (the reason, never the bytes)."""


@dataclass
class SpanEvent:
    name: str
    attributes: dict[str, Any]


@dataclass
class PlainSpan:
    trace_id: str  # hex
    span_id: str  # hex
    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]  # the resource's first, the span's over them
    events: list[SpanEvent] = field(default_factory=list)

    @property
    def duration_ms(self) -> float | None:
        if not (self.start_ns and self.end_ns >= self.start_ns):
            return None
        return round((self.end_ns - self.start_ns) / 1e6, 3)


def inflated(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body, gunzipped if it says so, never more than `limit` bytes (a small bomb stays
    small)."""
    if encoding in (None, "", "identity"):
        return body
    if encoding != "gzip":
        raise UnreadableExportError(f"unknown Content-Encoding {encoding[:20]!r}")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise UnreadableExportError("not gzip data") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise UnreadableExportError(f"more than {limit} bytes once inflated")
    return data


def parsed_request(body: bytes, json_encoded: bool) -> Any:
    """An ExportTraceServiceRequest from protobuf bytes or OTLP JSON (whose ids are hex)."""
    from google.protobuf import json_format
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    try:
        if json_encoded:
            document = json.loads(body)
            if not isinstance(document, dict):
                raise UnreadableExportError("an OTLP JSON export is an object")
            json_format.ParseDict(with_base64_ids(document), request)
        else:
            request.ParseFromString(body)
    except (DecodeError, json_format.ParseError, ValueError, TypeError, RecursionError):
        raise UnreadableExportError("not an OTLP trace export") from None
    return request


def with_base64_ids(document: Any) -> Any:
    """OTLP JSON writes trace and span ids as hex; protobuf's JSON reads bytes as base64."""
    if isinstance(document, dict):
        return {key: hex_as_base64(value) if key in ID_FIELDS else with_base64_ids(value)
                for key, value in document.items()}  # fmt: skip
    if isinstance(document, list):
        return [with_base64_ids(item) for item in document]
    return document


def hex_as_base64(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        raise UnreadableExportError("a trace or span id is not hex") from None


def plain_spans(request: Any) -> list[PlainSpan]:
    spans = []
    for resource_spans in request.resource_spans:
        resource = attributes_of(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(PlainSpan(
                    trace_id=span.trace_id.hex(), span_id=span.span_id.hex(), name=span.name,
                    start_ns=span.start_time_unix_nano, end_ns=span.end_time_unix_nano,
                    attributes={**resource, **attributes_of(span.attributes)},
                    events=[SpanEvent(e.name, attributes_of(e.attributes)) for e in span.events],
                ))  # fmt: skip
    return spans


def attributes_of(pairs: Any) -> dict[str, Any]:
    return {pair.key: value_of(pair.value) for pair in pairs}


def value_of(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [value_of(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes_of(value.kvlist_value.values)
    if kind == "bytes_value":
        return binascii.hexlify(value.bytes_value).decode()
    return None if kind is None else getattr(value, kind)
