"""The real HTTP server for tests: uvicorn on a free 127.0.0.1 port in a thread of the test
process, over a real database of either backend, its read models followed as `serve` does."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvicorn

from chatledger.infrastructure.bootstrap import bootstrap, build_read_side, shared_read_models
from chatledger.infrastructure.http.app import create_app
from chatledger.infrastructure.http.context import Services
from chatledger.infrastructure.http.idempotency_store import IdempotencyStore
from chatledger.infrastructure.http.rate_limits import KeyRateLimits
from chatledger.infrastructure.observability.metrics import ServiceMetrics
from chatledger.infrastructure.observability.structured_logging import StructlogCommandObserver
from chatledger.infrastructure.read_store.following import following
from chatledger.infrastructure.security.api_keys import ApiKeyStore, Role
from chatledger.infrastructure.settings import Settings
from chatledger.infrastructure.tokenizer.tiktoken_counter import TiktokenCounter
from tests.conftest import postgres_base_url


@dataclass
class Api:
    base_url: str
    database_url: str
    services: Services

    def client(self, role: Role = Role.user, user_id: str | None = None) -> httpx.Client:
        """A client with a new key of its own (a new user unless one is named)."""
        issued = self.services.keys.create(user_id or f"u-{uuid.uuid4().hex[:8]}", role)
        return httpx.Client(base_url=self.base_url, timeout=30.0,
                            headers={"Authorization": f"Bearer {issued.secret}"})  # fmt: skip

    def anonymous(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30.0)

    def settled(self) -> None:
        """Wait until every projection has caught up with the log (readiness with no lag)."""
        deadline = time.monotonic() + 20
        with self.anonymous() as client:
            while time.monotonic() < deadline:
                ready = client.get("/readyz").json()
                if all(p["lag"] == 0 for p in ready["projections"]):
                    return
                time.sleep(0.02)
        raise AssertionError("the read models did not catch up")


@contextmanager
def throwaway_database(backend: str, folder: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder}/http.sqlite"
        return
    base = postgres_base_url()
    schema = f"h_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{base}?schema={schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


@contextmanager
def running_server(
    database_url: str, token_counter: TiktokenCounter, **settings: Any
) -> Iterator[Api]:
    config = Settings(database_url=database_url, **settings)
    metrics = ServiceMetrics()
    pipeline = bootstrap(config, token_counter=token_counter,
                         observer=metrics.observer(StructlogCommandObserver()))  # fmt: skip
    pipeline.group_commit.on_recorded = metrics.round_recorded
    read_side = build_read_side(config, pipeline)
    metrics.watch_lag(read_side.status)
    database = shared_read_models(config, pipeline)
    services = Services(config, pipeline, read_side, ApiKeyStore(database),
                        IdempotencyStore(database), metrics,
                        KeyRateLimits(config.http_rate_limit))  # fmt: skip
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(services), access_log=False,
                                           log_config=None, lifespan="off"))  # fmt: skip
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    try:
        with following(read_side, 0.02):
            thread.start()
            while not server.started:
                assert thread.is_alive(), "the server did not start"
                time.sleep(0.01)
            yield Api(f"http://127.0.0.1:{listener.getsockname()[1]}", database_url, services)
            server.should_exit = True
            thread.join(timeout=10)
    finally:
        listener.close()
        database.close()
        read_side.close()
        pipeline.close()


@contextmanager
def served(
    request: Any, tmp_path_factory: Any, token_counter: TiktokenCounter, **settings: Any
) -> Iterator[Api]:
    """A server over a fresh database of the fixture's backend parameter: the modules' `api`."""
    with (
        throwaway_database(request.param, tmp_path_factory.mktemp("http")) as url,
        running_server(url, token_counter, **settings) as api,
    ):
        yield api
