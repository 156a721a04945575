"""Standing in for a provider SDK's objects: the same object to its caller, but for the one
method a drop-in records."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from chatledger.infrastructure.ledger.async_ledger import AsyncLedger
from chatledger.infrastructure.ledger.ledger import Ledger


class MissingExtraError(ImportError):
    """A drop-in whose SDK is not installed: the message names the extra to install."""


def require_extra(package: str) -> None:
    try:
        importlib.import_module(package)
    except ImportError:
        raise MissingExtraError(
            f"recording {package} calls needs its SDK: pip install 'chatledger[{package}]'"
        ) from None


class Proxy:
    """`wrapped` with some attributes replaced (`overrides`); the others are its own."""

    def __init__(self, wrapped: Any, **overrides: Any) -> None:
        self.wrapped = wrapped
        self.__dict__.update(overrides)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


def is_async_client(create: Any) -> bool:
    # The SDKs wrap their methods (argument checks): the coroutine function is underneath.
    return inspect.iscoroutinefunction(inspect.unwrap(create))


def async_ledger_of(ledger: Any) -> Any:
    """An async client needs awaitable commands: a Ledger is lent threads of its own."""
    return AsyncLedger(ledger) if isinstance(ledger, Ledger) else ledger
