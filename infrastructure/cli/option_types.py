"""Option values read by the domain's own types (versions, page sizes, instants, event
types), so that the command line takes what the Python and HTTP APIs take. Anything else
is a usage error (exit 2) naming the option and the form it wants, never the value given."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from pydantic import TypeAdapter, ValidationError

from chatledger.domain.boundary import described_problems
from chatledger.domain.event_types import EventType
from chatledger.domain.query_bounds import Instant, Limit, Version


def parser_of(kind: Any) -> Callable[[str], Any]:
    """A typer parser that reads an option's text as `kind`."""
    adapter: TypeAdapter[Any] = TypeAdapter(kind)

    def parse(text: str) -> Any:
        try:
            return adapter.validate_python(text)
        except ValidationError as error:
            problems = described_problems(error.errors(include_input=False, include_url=False))
            raise typer.BadParameter("; ".join(p["problem"] for p in problems)) from None

    return parse


def usage_error(
    problems: list[dict[str, str]], options: dict[str, str], whole: tuple[str, ...] = ()
) -> typer.BadParameter:
    """A VALIDATION_ERROR's problems as a usage error that names each field's option (`options`:
    field -> option); a problem of the input as a whole names the options in `whole` (or all)."""
    together = ", ".join(f"'{option}'" for option in whole or tuple(options.values()))
    named = dict.fromkeys(
        f"'{options[field]}'" if (field := p["field"].split(".")[0]) in options else together
        for p in problems
    )
    message = "; ".join(p["problem"] for p in problems)
    return typer.BadParameter(message, param_hint=", ".join(named))


parse_version = parser_of(Version)
parse_limit = parser_of(Limit)
parse_instant = parser_of(Instant)
parse_event_type = parser_of(EventType)
