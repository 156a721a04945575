"""OTLP/HTTP trace ingest: `POST /v1/traces` takes the exports of any OpenTelemetry SDK or
collector (protobuf or JSON, gzip or not) and records the GenAI spans it can map; the answer
is OTLP's own, in the request's encoding, its partial success naming what was not recorded."""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request
from starlette.responses import Response

from chatledger.domain.errors import ErrorCode
from chatledger.domain.messages import CommandResult
from chatledger.infrastructure.http.context import ServicesDep, WriterDep
from chatledger.infrastructure.http.results import ERROR_RESPONSES, error_response
from chatledger.infrastructure.integrations.otlp_ingest import ExportReport, record_spans
from chatledger.infrastructure.integrations.otlp_traces import (
    UnreadableExportError,
    inflated,
    parsed_request,
    plain_spans,
)
from chatledger.infrastructure.security.api_keys import Role

OTLP_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": CommandResult, "description": "Not an OTLP trace export (VALIDATION_ERROR)"},
    415: {"model": CommandResult, "description": "Neither protobuf nor JSON (VALIDATION_ERROR)"},
    501: {"model": CommandResult, "description": "The otel extra is not installed"},
}
router = APIRouter(tags=["OpenTelemetry"], responses={**ERROR_RESPONSES, **OTLP_ERRORS})
PROTOBUF, JSON = "application/x-protobuf", "application/json"
INFLATED_FACTOR = 8  # a gzip export may inflate to this many times the body limit


@router.post("/v1/traces", response_model=None, openapi_extra={"requestBody": {"content": {
    PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
    JSON: {"schema": {"type": "object"}}}, "required": True}})  # fmt: skip
async def export_traces(request: Request, caller: WriterDep, wired: ServicesDep) -> Response:
    """An OTLP trace export: the GenAI spans with a gen_ai.conversation.id become messages of
    that chat, for the key's user (or the user in the span's `CHATLEDGER_OTLP_USER_ATTRIBUTE`,
    which must be the key's own)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in (PROTOBUF, JSON):
        return error_response(415, ErrorCode.VALIDATION_ERROR, "send application/x-protobuf "
                              "or application/json")  # fmt: skip
    try:
        import google.protobuf  # noqa: F401 - the otel extra's
    except ImportError:
        return error_response(501, ErrorCode.VALIDATION_ERROR, "OTLP ingest needs the otel "
                              "extra: pip install 'chatledger[otel]'")  # fmt: skip
    limit = wired.settings.http_max_body_bytes * INFLATED_FACTOR
    try:
        body = inflated(await request.body(), request.headers.get("content-encoding"), limit)
        spans = plain_spans(parsed_request(body, media == JSON))
    except UnreadableExportError as error:
        return error_response(400, ErrorCode.VALIDATION_ERROR, str(error))
    for_anyone = caller.role is Role.service  # a service key records for the users it names
    report = await to_thread.run_sync(record_spans, wired.pipeline, spans, caller.user_id,
                                      wired.settings.otlp_user_attribute, for_anyone)  # fmt: skip
    return Response(otlp_answer(report, media == JSON), media_type=media)


def otlp_answer(report: ExportReport, json_encoded: bool) -> Any:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    answer = ExportTraceServiceResponse()
    if report.rejected_spans:
        answer.partial_success.rejected_spans = report.rejected_spans
        answer.partial_success.error_message = report.error_message()
    return json_format.MessageToJson(answer) if json_encoded else answer.SerializeToString()
