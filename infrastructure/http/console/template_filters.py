"""The filters the console's templates show values with.

`recorded` is for every value a chat or a request recorded (titles, content, ids, models,
metadata, reasons): the text as it was recorded, HTML-escaped, inside `<bdi>` so that its
direction cannot reorder the page's own words around it, with each character that shows
nothing or changes the layout as a visible `<U+202E>` marker (infrastructure/presentation/
recorded_text.py, the same markers as the command line). `visible` is the same text without
markup, for attributes and the page title. `segment` puts a chat id in a link's path
(chat_urls.py)."""

from __future__ import annotations

import json
from typing import Any

from jinja2 import Environment
from markupsafe import Markup, escape

from chatledger.infrastructure.http.console.chat_urls import path_segment
from chatledger.infrastructure.presentation.recorded_text import marker, runs, visible

MARKER = Markup('<span class="ctl">{}</span>')


def recorded(value: Any) -> Markup:
    if value is None:
        return Markup("")
    pieces = (MARKER.format(marker(piece)) if hidden else escape(piece)
              for piece, hidden in runs(str(value)))  # fmt: skip
    return Markup("<bdi>") + Markup("").join(pieces) + Markup("</bdi>")


def visible_text(value: Any) -> str:
    return "" if value is None else visible(str(value))


def as_json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, indent=1, sort_keys=True)


def milliseconds(value: float | None) -> str:
    """A duration of the statistics: none when nothing was measured."""
    return "none recorded" if value is None else f"{value:,.1f} ms"


def install_filters(environment: Environment) -> None:
    environment.filters |= {"recorded": recorded, "visible": visible_text,
                            "segment": path_segment, "pretty_json": as_json_text,
                            "ms": milliseconds}  # fmt: skip
