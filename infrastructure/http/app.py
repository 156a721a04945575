"""The HTTP API: a FastAPI application over one wired pipeline and read side.

Endpoints are plain (sync) functions: FastAPI runs them in its thread pool, so concurrent
requests meet in the pipeline, whose group commit lets them share transactions."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import Lifespan

from chatledger.domain.errors import ErrorCode
from chatledger.infrastructure.http import admin, audit, bulk, listing, otlp, reads, writes
from chatledger.infrastructure.http.console.routes import install_console
from chatledger.infrastructure.http.context import Services, StoreUnavailableError
from chatledger.infrastructure.http.idempotency import IdempotentWrites
from chatledger.infrastructure.http.middleware import RequestContext
from chatledger.infrastructure.http.results import HANDLERS, error_response

DESCRIPTION = """An event-sourced, hash-chained audit log for LLM chat messages.

Every response body of a command or query is a CommandResult: `success`, ids, figures, and on
failure `error` with `code`, `message`, `details` and `recovery_hint`. Status codes: 201
recorded, 200 recorded before (a retry) or answered, 401 no valid key, 403 the key's role may not
do this, 404 no such chat or not the caller's (answered alike), 409 CONFLICT or STREAM_NOT_OPEN,
413 body too large, 422 VALIDATION_ERROR, 503 PERSISTENCE_ERROR (Retry-After; retry with the same
ids), 500 INTERNAL_ERROR. Ids may hold `/`: send it percent-encoded in paths. Every response
carries X-Request-ID (the client's, if well formed, else a new one). Every write takes an
`Idempotency-Key` header: the same key and request answer the first answer again (a 201 as 200,
with `Idempotent-Replayed: true`), kept 48 hours in the database; the same key with another
request answers 409 CONFLICT.
"""


async def store_unavailable(request: Any, error: Exception) -> Any:
    return error_response(503, ErrorCode.PERSISTENCE_ERROR, "the store failed",
                          headers={"Retry-After": "1"})  # fmt: skip


def create_app(services: Services, lifespan: Lifespan[FastAPI] | None = None) -> FastAPI:
    app = FastAPI(
        lifespan=lifespan,
        title="ChatLedger",
        version="1.0.0",
        description=DESCRIPTION,
        docs_url=None,  # the interactive pages load scripts from a CDN; the document suffices
        redoc_url=None,
        exception_handlers={**HANDLERS, StoreUnavailableError: store_unavailable},
        # operationId = the function's name (persist_user_message, ...): what client
        # generators name their methods after, instead of FastAPI's path-derived names.
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.services = services
    routers = (writes.router, bulk.router, reads.router, listing.router, audit.router,
               otlp.router, admin.router, reads.probes)  # fmt: skip
    for router in routers:
        app.include_router(router)
    install_console(app, services)  # the auditor's console under /console
    # Added first, so it runs inside RequestContext: the body is bounded before it is kept.
    app.add_middleware(IdempotentWrites, store=services.idempotency)
    app.add_middleware(RequestContext, max_body_bytes=services.settings.http_max_body_bytes,
                       metrics=services.metrics)  # fmt: skip
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
    return app


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with the X-Request-ID header and the 413 every route can answer."""
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(title=app.title, version=app.version, description=app.description,
                           routes=app.routes)  # fmt: skip
    result = {"$ref": "#/components/schemas/CommandResult"}
    for path_item in document["paths"].values():
        for operation in path_item.values():
            for status, description in (("413", "Request body too large"), ("500", "A bug")):
                operation["responses"].setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": result}},
                    },
                )
            for response in operation["responses"].values():
                response.setdefault("headers", {})["X-Request-ID"] = {
                    "description": "The request's id, as in the server's log lines",
                    "schema": {"type": "string"},
                }
    app.openapi_schema = document
    return document
