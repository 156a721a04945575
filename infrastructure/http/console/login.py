"""Signing in and out of the console with an API key (a form), and the console's front door."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from eventsourcing.persistence import PersistenceError
from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from chatledger.infrastructure.http.console.access import (
    SECURITY_HEADERS,
    AuditorDep,
    ConsoleDeniedError,
    console_of,
    render,
)
from chatledger.infrastructure.http.console.sessions import COOKIE, LIFETIME_S, LOGIN_CSRF_COOKIE
from chatledger.infrastructure.http.context import StoreUnavailableError, wired_services
from chatledger.infrastructure.security.api_keys import Scope

router = APIRouter(prefix="/console", include_in_schema=False)
FormText = Annotated[str, Form(max_length=200)]


def see_other(url: str) -> Response:
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


def cookie_options(request: Request) -> dict[str, object]:
    return {"httponly": True, "samesite": "strict", "path": "/console",
            "secure": request.url.scheme == "https"}  # fmt: skip


@router.get("")
def front_door(auditor: AuditorDep) -> Response:
    return see_other("/console/search")


@router.get("/login")
def login_form(request: Request) -> Response:
    return login_page(request)


def login_page(request: Request, problem: str | None = None, status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    page = render(request, "login.html",
                  {"auditor": None, "csrf": token, "problem": problem}, status)  # fmt: skip
    page.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, **cookie_options(request))  # type: ignore[arg-type]
    return page


@router.post("/login")
def login(request: Request, api_key: FormText, csrf: FormText) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf):
        return login_page(request, "The form expired: sign in again.", 403)
    try:
        key = wired_services(request).keys.authenticate(api_key.strip())
    except PersistenceError:
        raise StoreUnavailableError from None
    if key is None:
        return login_page(request, "This key is not valid (unknown, revoked or expired).", 401)
    if Scope.audit not in key.allowed:
        return login_page(request, "This key may not use the console: it needs an auditor "
                          "key, or a service key with the audit scope.", 403)  # fmt: skip
    page = see_other("/console/search")
    page.set_cookie(COOKIE, console_of(request).sessions.open(key.key_id), max_age=LIFETIME_S,
                    **cookie_options(request))  # type: ignore[arg-type]  # fmt: skip
    page.delete_cookie(LOGIN_CSRF_COOKIE, path="/console")
    return page


@router.post("/logout")
def logout(request: Request, auditor: AuditorDep, csrf: FormText) -> Response:
    sessions = console_of(request).sessions
    if auditor.session is None or not sessions.csrf_valid(auditor.session, csrf):
        raise ConsoleDeniedError(403)
    sessions.close(auditor.session)
    page = see_other("/console/login")
    page.delete_cookie(COOKIE, path="/console", httponly=True, samesite="strict")
    return page
