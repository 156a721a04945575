"""Around every HTTP request: a request id (the client's X-Request-ID if well formed, else a new
one) in the response and in every log line of the request, a bound on the body's size, and one
log line per request. Never content, never the API key: only ids, route, status and timing."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from time import perf_counter
from typing import Any
from uuid import uuid4

import structlog
from starlette.datastructures import Headers, MutableHeaders

from chatledger.domain.errors import ErrorCode
from chatledger.infrastructure.http.results import error_response
from chatledger.infrastructure.observability.metrics import ServiceMetrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# Like the ids the pipeline accepts: no spaces, quotes or control characters reach a log line.
REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/+=#-]{0,127}$")


def request_id_of(headers: Headers) -> str:
    given = headers.get("x-request-id", "")
    return given if REQUEST_ID.fullmatch(given) else uuid4().hex


# Unread request bytes make the socket's close a reset, which can destroy the 413 before the
# client reads it; up to this much of an oversized body is read and dropped first.
DRAIN_BYTES = 8 * 1024 * 1024


async def drain(receive: Receive, budget: int) -> None:
    """Read and drop what the client is still sending, up to `budget` bytes."""
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request":
            return
        budget -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class RequestContext:
    """A pure ASGI middleware (no per-request task or body copy beyond the bound)."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, metrics: ServiceMetrics | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics
        self.log = structlog.get_logger("chatledger.http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        headers = Headers(scope=scope)
        request_id = request_id_of(headers)
        scope.setdefault("state", {})["request_id"] = request_id
        outcome = {"status": 500, "started": 0}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                outcome["status"], outcome["started"] = message["status"], 1
                MutableHeaders(scope=message).append("X-Request-ID", request_id)
            await send(message)

        # Bound for the request: the pipeline's own log lines (in worker threads, which copy
        # the context) carry the request id too.
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.handle(scope, receive, send_with_id, headers)
            except Exception as error:
                await self.failed(error, outcome, send_with_id)
            finally:
                self.log_request(scope, outcome["status"], started)

    async def handle(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        body = await self.bounded_body(receive, headers)
        if body is None:
            response = error_response(413, ErrorCode.VALIDATION_ERROR, "request body too large",
                                      f"Send at most {self.max_body_bytes} bytes.",
                                      headers={"Connection": "close"})  # fmt: skip
            await response(scope, receive, send)
            return
        await self.app(scope, replayed(body, receive), send)

    async def bounded_body(self, receive: Receive, headers: Headers) -> bytes | None:
        """The whole body, or None once it is larger than the bound (by its declared length,
        before reading any, or while reading a body of undeclared length)."""
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await drain(receive, DRAIN_BYTES)
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks)  # the client went away; the app will see no more
            chunk = message.get("body", b"")
            size += len(chunk)
            more = message.get("more_body", False)
            if size > self.max_body_bytes:
                if more:
                    await drain(receive, DRAIN_BYTES)
                return None
            chunks.append(chunk)
            if not more:
                return b"".join(chunks)

    async def failed(self, error: Exception, outcome: dict[str, int], send: Send) -> None:
        """A bug below: a coded 500 if no response has started, else the connection drops."""
        self.log.error("http request failed", error=type(error).__name__)
        if outcome["started"]:
            raise error
        response = error_response(500, ErrorCode.INTERNAL_ERROR, "unexpected error",
                                  details={"error": type(error).__name__})  # fmt: skip
        await response({"type": "http"}, _no_body, send)

    def log_request(self, scope: Scope, status: int, started: float) -> None:
        route = getattr(scope.get("route"), "path_format", None)  # a template: no ids in it
        state = scope.get("state", {})
        seconds = perf_counter() - started
        if self.metrics is not None:
            self.metrics.request_done(scope["method"], route or "unrouted", status, seconds)
        self.log.info(
            "http request",
            method=scope["method"],
            route=route,
            status=status,
            duration_ms=round(seconds * 1000.0, 3),
            user_id=state.get("user_id"),
            key_id=state.get("key_id"),
        )


def replayed(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the body read already, then waits on the client as before."""
    sent = False

    async def receive_again() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive_again


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
