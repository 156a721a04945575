"""The HTTP service as an ASGI application factory, configured from the environment
(CHATLEDGER_*) like everything else. `chatledger serve` runs it under uvicorn; a deployment may
run it under any ASGI server:

    uvicorn --factory chatledger.infrastructure.http.server:app_from_environment
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager

import structlog
from fastapi import FastAPI

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.bootstrap import bootstrap, build_read_side, shared_read_models
from chatledger.infrastructure.http.app import create_app
from chatledger.infrastructure.http.context import Services
from chatledger.infrastructure.http.idempotency_store import IdempotencyStore
from chatledger.infrastructure.http.rate_limits import KeyRateLimits
from chatledger.infrastructure.observability.metrics import ServiceMetrics
from chatledger.infrastructure.observability.structured_logging import StructlogCommandObserver
from chatledger.infrastructure.read_store.following import following
from chatledger.infrastructure.security.api_keys import ApiKeyStore
from chatledger.infrastructure.settings import Settings, describe_database


def app_from_environment() -> FastAPI:
    return app_for(Settings())


def app_for(settings: Settings) -> FastAPI:
    """The service over the configured database; its read models followed in this process
    (unless `http_follow` is off) from start-up to shutdown, when everything it opened closes."""
    with ExitStack() as opened:
        metrics = ServiceMetrics()
        pipeline = bootstrap(settings, observer=metrics.observer(StructlogCommandObserver()))
        opened.callback(pipeline.close)
        pipeline.group_commit.on_recorded = metrics.round_recorded
        read_side = build_read_side(settings, pipeline)
        opened.callback(read_side.close)
        metrics.watch_lag(read_side.status)
        database = shared_read_models(settings, pipeline)
        opened.callback(database.close)
        services = Services(settings, pipeline, read_side, ApiKeyStore(database),
                            IdempotencyStore(database), metrics,
                            KeyRateLimits(settings.http_rate_limit),
                            head_at_start=pipeline.recorder.max_notification_id() or 0)  # fmt: skip
        warm_up(pipeline)
        held = opened.pop_all()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with held:
            if settings.http_follow:
                held.enter_context(following(read_side, settings.http_follow_poll_s))
            structlog.get_logger("chatledger.http").warning(
                "serving", database=describe_database(settings), follow=settings.http_follow
            )
            yield

    return create_app(services, lifespan=lifespan)


def warm_up(pipeline: PersistencePipeline) -> None:
    """Load the tokenizer's encodings now, not in the first requests (a second each)."""
    for model in ("gpt-4o", "gpt-4"):
        pipeline.token_counter.count("", model)
