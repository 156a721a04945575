"""Standing in for a provider SDK's objects: the same object to its caller, but for the one
method a drop-in records."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from chatledger.infrastructure.integrations.call_recording import CallPlanner, ChatTarget
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


def call_planner(
    package: str, provider: str, chat_id: str | None, user_id: str | None
) -> CallPlanner:
    """The planner of a drop-in for `package`'s SDK, bound to a chat where both ids are given."""
    require_extra(package)
    bound = ChatTarget(chat_id, user_id) if chat_id and user_id else None
    return CallPlanner(provider, bound)


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
    """An async client needs awaitable commands: a Ledger is lent threads of its own (once: a
    client bound to another chat keeps the same)."""
    return AsyncLedger(ledger) if isinstance(ledger, Ledger) else ledger


def sync_ledger_of(ledger: Any) -> Any:
    """A sync client calls the ledger in its own thread: an AsyncLedger's own Ledger."""
    return ledger.ledger if isinstance(ledger, AsyncLedger) else ledger


class RecordedClient(Proxy):
    """An SDK client (or one of its resources) whose model calls are recorded."""

    def __init__(
        self,
        wrapped: Any,
        *,
        planner: CallPlanner | None = None,
        ledger: Any = None,
        rebind: Callable[[Any, Any, CallPlanner], RecordedClient] | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__(wrapped, **overrides)
        self._planner = planner
        self._ledger = ledger
        self._rebind = rebind

    def for_chat(self, chat_id: str, user_id: str) -> RecordedClient:
        """The same client, recording every call in this chat for this user."""
        if self._planner is None or self._rebind is None:
            raise TypeError("for_chat() is a method of the recorded client itself")
        bound = CallPlanner(self._planner.provider, ChatTarget(chat_id, user_id),
                            self._planner.counts)  # fmt: skip
        return self._rebind(self.wrapped, self._ledger, bound)

    @property
    def recording_counts(self) -> dict[str, int]:
        """Calls recorded and not recorded, and why not (by error code)."""
        if self._planner is None:
            raise TypeError("recording_counts belongs to the recorded client itself")
        return self._planner.counts.as_dict()
