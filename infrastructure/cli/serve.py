"""`chatledger serve`: the HTTP service (chatledger.infrastructure.http.server) under uvicorn, its
read models kept current by follower threads in the same process. The command passes its options
on as settings in the environment, which the service's factory reads, so that the command line
and the HTTP package never import each other."""

from __future__ import annotations

import os
import secrets
import signal
from contextlib import ExitStack
from typing import Annotated, Any

import typer

from chatledger.infrastructure.bootstrap import bootstrap, build_read_side
from chatledger.infrastructure.cli.common import DatabaseOption, command_settings, errors
from chatledger.infrastructure.cli.failures import first_line
from chatledger.infrastructure.cli.literal_console import alert
from chatledger.infrastructure.read_store.following import following
from chatledger.infrastructure.settings import Settings

SERVICE = "chatledger.infrastructure.http.server:app_from_environment"


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free one).")] = 8000,
    follow: Annotated[
        bool, typer.Option(help="Keep the read models current in this process.")
    ] = True,
    poll_seconds: Annotated[float, typer.Option(min=0.01, help="Follower poll interval.")] = 0.2,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Processes serving requests (the read models are then followed by this one).",
        ),
    ] = 1,
    database_url: DatabaseOption = None,
) -> None:
    """Serve the HTTP API (OpenAPI document at /openapi.json). Clients authenticate with bearer
    keys from `chatledger keys create`; one JSON log line per request on stderr. Needs the
    `server` extra (pip install 'chatledger\\[server]')."""
    try:
        import uvicorn
    except ImportError:
        # markup off: rich would take "[server]" for a style and drop it
        errors.print("`serve` needs the HTTP extra: pip install 'chatledger[server]'", markup=False)
        raise typer.Exit(2) from None
    settings = command_settings(database_url, verbose=True)  # exit 3 on settings that cannot work
    if database_url:
        os.environ["CHATLEDGER_DATABASE_URL"] = database_url
    # With several workers, one follower (here) keeps the read models current, not one each.
    os.environ["CHATLEDGER_HTTP_FOLLOW"] = str(follow and workers == 1).lower()
    os.environ["CHATLEDGER_HTTP_FOLLOW_POLL_S"] = str(poll_seconds)
    if workers > 1 and settings.console_session_secret is None:
        # The workers sign console sessions with one secret, or a session opened by one worker
        # would be refused by the next; it lives as long as this command, as with one process.
        os.environ["CHATLEDGER_CONSOLE_SESSION_SECRET"] = secrets.token_hex(32)
    # lifespan "on": a start-up that fails (the followers would not run) stops the server
    # with an error, where "auto" would log it at info level and serve without them.
    config = uvicorn.Config(SERVICE, factory=True, host=host, port=port, access_log=False,
                            log_config=None, server_header=False, workers=workers,
                            lifespan="on", timeout_graceful_shutdown=10)  # fmt: skip
    # uvicorn raises again the signal that stopped it, once it has shut down; handled here, it
    # lets the followers stop and the pools close, and the exit code be 0.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda signum, frame: None)
    try:
        if workers == 1:
            uvicorn.Server(config).run()
        else:
            serve_in_processes(config, settings, follow, poll_seconds)
    except Exception as error:  # the factory could not open the database or its tables
        errors.print(alert("cannot open the database:"), first_line(error), highlight=False)
        raise typer.Exit(3) from None


def serve_in_processes(config: Any, settings: Settings, follow: bool, poll_seconds: float) -> None:
    """uvicorn's supervisor runs the workers; this process follows the log for them all."""
    from uvicorn.supervisors.multiprocess import Multiprocess

    with ExitStack() as opened:
        if follow:
            pipeline = bootstrap(settings)
            opened.callback(pipeline.close)
            read_side = build_read_side(settings, pipeline)
            opened.callback(read_side.close)
            opened.enter_context(following(read_side, poll_seconds))
        Multiprocess(config, sockets=[config.bind_socket()]).run()
