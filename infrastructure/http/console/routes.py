"""The console's routers, in the order their paths must be tried (a chat's proof and replay
before the chat itself: chat ids may hold "/")."""

from __future__ import annotations

from fastapi import FastAPI

from chatledger.infrastructure.http.console import (
    access,
    conversation,
    erasures,
    login,
    proof,
    search,
    statistics,
)
from chatledger.infrastructure.http.context import Services

ROUTERS = [login.router, search.router, statistics.router, erasures.router, proof.router,
           conversation.router]  # fmt: skip


def install_console(app: FastAPI, services: Services) -> None:
    access.install(app, services, ROUTERS)
