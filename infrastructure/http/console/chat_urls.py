"""A chat in the console's URLs: its id as one path segment, and the routes that read it back.

Ids may hold `/`, `#`, `+`, `=`, `:`, `@` and dots (README, "Ids"), so an id is put in a path
with every character but letters, digits and `-._~` percent-encoded: `a/b/../c` is
`/console/chats/a%2Fb%2F..%2Fc`, one segment that neither a browser nor a server normalises
into chat `a/c`. (A segment that is exactly `.` or `..` would be, even as `%2E%2E`, as the URL
Standard says; no id is one, since an id starts with a letter or a digit.) uvicorn decodes
`%2F` before routing, so the console's chat routes match on the path as it was sent, and decode
their parameters after: `/console/chats/a%2Fproof` is chat `a/proof`, not the proof of `a`."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope


def path_segment(chat_id: Any) -> str:
    return quote(str(chat_id), safe="")


class SentPathRoute(APIRoute):
    """A route matched against the path as the client sent it, percent-encoded."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        sent = scope.get("raw_path")
        if scope["type"] != "http" or sent is None:
            return super().matches(scope)
        match, child = super().matches({**scope, "path": sent.decode("latin-1")})
        if match is not Match.NONE:
            child["path_params"] = {name: unquote(value) if isinstance(value, str) else value
                                    for name, value in child["path_params"].items()}  # fmt: skip
        return match, child
