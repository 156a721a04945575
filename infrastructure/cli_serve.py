"""`chatledger serve`: the HTTP API on the configured database, with the read models kept current
by follower threads in the same process."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import structlog
import typer
import uvicorn

from domain.pipeline import PersistencePipeline
from infrastructure.api_keys import ApiKeyStore
from infrastructure.cli_common import DatabaseOption, errors, opened_read_side
from infrastructure.cli_follow import keep_following
from infrastructure.http_app import create_app
from infrastructure.http_context import Services
from infrastructure.read_models import read_model_database
from infrastructure.settings import describe_database
from projections.read_side import ReadSide


@contextmanager
def following(read_side: ReadSide, poll_seconds: float) -> Iterator[None]:
    """Every projection followed in its own thread until the block ends."""
    stop, failed = threading.Event(), threading.Event()
    threads = [
        threading.Thread(
            target=keep_following,
            args=(runner, stop, poll_seconds, failed),
            name=f"follow-{name}",
            daemon=True,
        )
        for name, runner in read_side.runners.items()
    ]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free one).")] = 8000,
    follow: Annotated[
        bool, typer.Option(help="Keep the read models current in this process.")
    ] = True,
    poll_seconds: Annotated[float, typer.Option(min=0.01, help="Follower poll interval.")] = 0.2,
    database_url: DatabaseOption = None,
) -> None:
    """Serve the HTTP API (OpenAPI document at /openapi.json). Clients authenticate with bearer
    keys from `chatledger keys create`; one JSON log line per request on stderr."""
    with opened_read_side(database_url, verbose=True) as (read_side, settings):
        try:
            database = read_model_database(settings)
            keys = ApiKeyStore(database)
        except Exception as error:
            errors.print(f"[red]cannot open the key table:[/red] {type(error).__name__}")
            raise typer.Exit(3) from None
        warm_up(read_side.pipeline)
        app = create_app(Services(settings, read_side.pipeline, read_side, keys))
        config = uvicorn.Config(app, host=host, port=port, access_log=False, log_config=None,
                                server_header=False, timeout_graceful_shutdown=10)  # fmt: skip
        structlog.get_logger("chatledger.http").warning(
            "serving", host=host, port=port, database=describe_database(settings)
        )
        # uvicorn raises again the signal that stopped it, once it has shut down; handled
        # here, it lets the followers stop and the pools close, and the exit code be 0.
        for stop_signal in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop_signal, lambda signum, frame: None)
        try:
            with following(read_side, poll_seconds) if follow else _nothing():
                uvicorn.Server(config).run()
        finally:
            database.close()


def warm_up(pipeline: PersistencePipeline) -> None:
    """Load the tokenizer's encodings now, not in the first requests (a second each)."""
    for model in ("gpt-4o", "gpt-4"):
        pipeline.token_counter.count("", model)


@contextmanager
def _nothing() -> Iterator[None]:
    yield
