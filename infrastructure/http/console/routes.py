"""The console's routers. A chat's pages take its id as one percent-encoded path segment
(chat_urls.py), so no chat's path is another's page whatever the order."""

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
