"""`chatledger otel-export`: every recorded message as an OpenTelemetry GenAI span, to the OTLP
endpoint the standard OTEL_EXPORTER_OTLP_* variables name."""

from __future__ import annotations

import json
import signal
from typing import Annotated

import typer

from chatledger.infrastructure.bootstrap import shared_read_models
from chatledger.infrastructure.cli.common import DatabaseOption, JsonOption, console, errors
from chatledger.infrastructure.cli.common import opened_pipeline as opened


def otel_export(
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep following the log until interrupted.")
    ] = False,
    capture_content: Annotated[
        bool | None,
        typer.Option(
            "--capture-content/--no-capture-content",
            help="Put the messages' "
            "words in the spans (default: CHATLEDGER_OTEL_CAPTURE_CONTENT, off).",
        ),
    ] = None,
    poll: Annotated[float, typer.Option(min=0.05, help="Seconds between polls (--follow).")] = 1.0,
    database_url: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Emit each recorded message as a span that follows the OpenTelemetry GenAI conventions
    (a reply: `chat {model}`, CLIENT; other messages: `{role} message`), one trace per chat,
    through the OpenTelemetry SDK's OTLP/HTTP exporter (OTEL_EXPORTER_OTLP_ENDPOINT, ...).
    Goes on from where the last run stopped (the position is kept in the database); no content
    unless asked for, never an erased user's. Exit 1 when the endpoint refuses spans (the
    position stays before them). Needs the `otel` extra."""
    try:
        from chatledger.infrastructure.integrations.otel_export import (
            ExportRefusedError,
            SpanExport,
            default_tracer_provider,
        )

        provider, watch = default_tracer_provider()
    except ImportError:
        errors.print(
            "`otel-export` needs the otel extra: pip install 'chatledger[otel]'", markup=False
        )
        raise typer.Exit(2) from None
    stopping = {"now": False}
    signal.signal(signal.SIGINT, lambda signum, frame: stopping.update(now=True))
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.update(now=True))
    with opened(database_url) as (pipeline, settings):
        database = shared_read_models(settings, pipeline)
        try:
            capture = settings.otel_capture_content if capture_content is None else capture_content
            export = SpanExport(pipeline, database, provider, capture_content=capture, watch=watch)
            spans = export.run(follow=follow, poll_s=poll, stop=lambda: stopping["now"])
            position = export.position()
        except ExportRefusedError:
            errors.print(
                "export failed: the OTLP endpoint did not take the spans; the next run "
                f"sends them again (position {export.position()})",
                markup=False,
            )
            raise typer.Exit(1) from None
        finally:
            provider.shutdown()
            database.close()
    if as_json:
        print(json.dumps({"spans": spans, "position": position}))
    else:
        console.print(f"exported {spans} span(s); the log is emitted up to position {position}")
