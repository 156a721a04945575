"""Who may see the console, and how its pages are answered.

A page needs a key that reads every chat (the audit scope: auditor keys, service keys that have
it), named by the session cookie or, for scripts and benchmarks, a bearer header. Without one
the page answers 401, with a key that may not audit 403: either way a page that shows nothing
of any chat. Every page carries a Content-Security-Policy that runs only the console's own
script files, a second defence behind the templates' autoescaping against recorded markup."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from eventsourcing.persistence import PersistenceError
from fastapi import Depends, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from chatledger.infrastructure.http.console.sessions import COOKIE, ConsoleSessions, Session
from chatledger.infrastructure.http.console.template_filters import install_filters
from chatledger.infrastructure.http.context import (
    Caller,
    Services,
    StoreUnavailableError,
    wired_services,
)
from chatledger.infrastructure.security.api_keys import ApiKey, Scope

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class ConsoleDeniedError(Exception):
    """No valid key (401) or a key that may not audit (403)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class Auditor:
    caller: Caller
    session: Session | None  # None when the key came as a bearer header
    csrf: str

    @property
    def may_erase(self) -> bool:
        return Scope.erase in self.caller.scopes


@dataclass(frozen=True)
class Console:
    """What the console keeps for the process: its sessions and its templates."""

    sessions: ConsoleSessions
    templates: Jinja2Templates


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def key_of(request: Request, wired: Services) -> tuple[ApiKey | None, Session | None]:
    header = request.headers.get("authorization", "")
    try:
        if header[:7].lower() == "bearer ":
            return wired.keys.authenticate(header[7:].strip()), None
        session = console_of(request).sessions.session(request.cookies.get(COOKIE))
        if session is None:
            return None, None
        key = wired.keys.key(session.key_id)
    except PersistenceError:
        raise StoreUnavailableError from None
    return (key, session) if key is not None and key.active else (None, None)


def signed_in(request: Request) -> Auditor:
    wired = wired_services(request)
    key, session = key_of(request, wired)
    if key is None:
        raise ConsoleDeniedError(401)
    request.state.key_id, request.state.user_id = key.key_id, key.user_id  # the log line's
    wired.rate_limits.check(key.key_id)  # the API's limit per key holds for its pages too
    caller = Caller(key.key_id, key.user_id, key.role, key.allowed)
    if Scope.audit not in caller.scopes:
        raise ConsoleDeniedError(403)
    csrf = console_of(request).sessions.csrf_token(session) if session else ""
    return Auditor(caller, session, csrf)


AuditorDep = Annotated[Auditor, Depends(signed_in)]


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    templates = console_of(request).templates
    return templates.TemplateResponse(request, template, context, status_code=status,
                                      headers=SECURITY_HEADERS)  # fmt: skip


async def denied(request: Request, error: Exception) -> Response:
    status = error.status if isinstance(error, ConsoleDeniedError) else 403
    return render(request, "denied.html", {"status": status, "auditor": None}, status)


def install(app: FastAPI, services: Services, routers: list[Any]) -> None:
    secret = services.settings.console_session_secret
    sessions = ConsoleSessions(secret.get_secret_value().encode() if secret else None)
    templates = Jinja2Templates(directory=HERE / "templates")  # autoescapes .html
    install_filters(templates.env)
    app.state.console = Console(sessions, templates)
    app.add_exception_handler(ConsoleDeniedError, denied)
    for router in routers:
        app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
