"""structlog set-up: JSON lines for machines, readable lines for a terminal, and the pipeline's
command reports as log events. Message content and secrets never reach a log line."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import structlog

from chatledger.domain.ports import CommandReport

SENSITIVE_KEYS = frozenset(
    {"content", "password", "api_key", "authorization", "secret", "token", "database_url"}
)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}  # fmt: skip


def drop_sensitive_fields(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Defence in depth: whatever a caller passes, content and secrets are not written."""
    for key in list(event_dict):
        if key.lower() in SENSITIVE_KEYS:
            event_dict[key] = "[redacted]"
        elif isinstance(event_dict[key], str) and "://" in event_dict[key]:
            event_dict[key] = _URL_PASSWORD.sub(r"\1***@", event_dict[key])
    return event_dict


def configure_logging(
    log_format: Literal["auto", "json", "console"] = "auto",
    level: str = "info",
    stream: TextIO | None = None,
) -> None:
    """Called once, from bootstrap. Logs go to stderr so that stdout stays for results."""
    output = stream or sys.stderr
    as_json = log_format == "json" or (log_format == "auto" and not output.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=output.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            drop_sensitive_fields,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(output),
        cache_logger_on_first_use=False,
    )


class StructlogCommandObserver:
    """Writes one structured event per pipeline command: ids, outcome, error code, timing."""

    def __init__(self, logger: Any | None = None) -> None:
        self.logger = logger or structlog.get_logger("chatledger.pipeline")

    def command_finished(self, report: CommandReport) -> None:
        # vars(), not asdict(): the report holds only flat values, and asdict deep-copies them.
        # token_count is ChatLedger's own tiktoken count of the message, under its own name:
        # OpenTelemetry's GenAI names are for the provider's usage (gen_ai.usage.input_tokens).
        fields = {k: v for k, v in vars(report).items() if v is not None and k != "command"}
        if report.outcome in ("recorded", "duplicate", "answered"):
            self.logger.info(report.command, **fields)
        elif report.outcome == "rejected":
            self.logger.warning(report.command, **fields)
        else:
            self.logger.error(report.command, **fields)
