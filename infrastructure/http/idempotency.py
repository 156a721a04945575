"""The Idempotency-Key header on every write: the same key with the same request answers what
the first answered (a 201 as 200, marked `Idempotent-Replayed: true`), without running it again;
the same key with another request is a CONFLICT (409); a retry while the first still runs is a
CONFLICT with Retry-After. What a retry may mend (a 5xx: the store was down) is not kept."""

from __future__ import annotations

import hashlib
import re

from anyio import to_thread
from starlette.datastructures import Headers

from chatledger.domain.errors import ErrorCode
from chatledger.infrastructure.http.idempotency_store import Claim, IdempotencyStore
from chatledger.infrastructure.http.middleware import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    replayed,
)
from chatledger.infrastructure.http.results import error_response

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/+=#-]{0,127}$")
REPLAYED = "Idempotent-Replayed"


class IdempotentWrites:
    """A pure ASGI middleware, inside RequestContext (which has bounded and read the body)."""

    def __init__(self, app: ASGIApp, store: IdempotencyStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan and websocket scopes have no headers
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = headers.get("idempotency-key")
        if scope["method"] not in WRITES or key is None:
            await self.app(scope, receive, send)
            return
        if not KEY.fullmatch(key):
            hint = "Send 1 to 128 letters, digits or ._:@/+=#- characters."
            response = error_response(422, ErrorCode.VALIDATION_ERROR,
                                      "malformed Idempotency-Key", hint)  # fmt: skip
            await response(scope, receive, send)
            return
        body = await whole_body(receive)
        owner = hashlib.sha256(headers.get("authorization", "").encode()).hexdigest()
        claim = await to_thread.run_sync(self.store.claim, owner, key, fingerprint(scope, body))
        if claim.outcome == "new":
            await self.run_once(scope, replayed(body, receive), send, owner, key)
        else:
            await answer(claim, scope, send)

    async def run_once(
        self, scope: Scope, receive: Receive, send: Send, owner: str, key: str
    ) -> None:
        """Run the request, keep its answer, then send it: a retry that arrives as soon as the
        client has the answer finds it kept (writes answer small JSON bodies)."""
        held: list[Message] = []

        async def holding(message: Message) -> None:
            held.append(message)

        try:
            await self.app(scope, receive, holding)
        finally:
            start = next((m for m in held if m["type"] == "http.response.start"), None)
            status = int(start["status"]) if start else 500
            content_type = Headers(raw=start["headers"]).get("content-type", "") if start else ""
            body = b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")
            if status < 500:
                await to_thread.run_sync(self.store.complete, owner, key, status, content_type,
                                         body.decode("utf-8", "replace"))  # fmt: skip
            else:
                await to_thread.run_sync(self.store.release, owner, key)
        for message in held:
            await send(message)


def fingerprint(scope: Scope, body: bytes) -> str:
    request = hashlib.sha256(f"{scope['method']} {scope['path']}?".encode())
    request.update(scope.get("query_string", b"") + b"\n" + body)
    return request.hexdigest()


async def answer(claim: Claim, scope: Scope, send: Send) -> None:
    if claim.outcome == "replay":
        status = 200 if claim.status == 201 else claim.status
        headers = [(b"content-type", claim.content_type.encode()), (REPLAYED.encode(), b"true")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": claim.body.encode()})
        return
    if claim.outcome == "mismatch":
        response = error_response(409, ErrorCode.CONFLICT,
                                  "this Idempotency-Key was sent with another request",
                                  "Use a new Idempotency-Key for a new request.")  # fmt: skip
    else:
        response = error_response(409, ErrorCode.CONFLICT,
                                  "a request with this Idempotency-Key is still running",
                                  "Retry after a moment with the same key.",
                                  headers={"Retry-After": "1"})  # fmt: skip
    await response(scope, no_body, send)


async def whole_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def no_body() -> Message:
    return {"type": "http.disconnect"}
