"""AsyncLedger: the Ledger for asyncio applications. Each call runs in a thread of the ledger's
own pool, so the event loop never waits on the store, not even when the database is slow or
locked; concurrent awaiting callers meet in the pipeline's group commit as threads do. A call
whose await is cancelled may still complete in its thread: retry with the same message id, and
nothing is recorded twice."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from chatledger.infrastructure.ledger.ledger import Ledger

P = ParamSpec("P")
R = TypeVar("R")
# Callers waiting on the store at once: each holds a thread while it waits for its commit.
DEFAULT_THREADS = 32


def _awaitable(
    method: Callable[Concatenate[Ledger, P], R],
) -> Callable[Concatenate[AsyncLedger, P], Coroutine[Any, Any, R]]:
    """A Ledger method, awaitable: the same signature, run in the pool with the caller's
    context variables (structlog's bound ids among them)."""

    @functools.wraps(method)
    async def in_a_thread(self: AsyncLedger, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await self.run(functools.partial(method, self.ledger, *args, **kwargs))

    return in_a_thread


class AsyncLedger:
    """`ledger = await AsyncLedger.open(url)`, then `async with ledger:` or `await
    ledger.aclose()`. Wraps a Ledger (`AsyncLedger(Ledger(url))` works too)."""

    def __init__(self, ledger: Ledger, *, threads: int = DEFAULT_THREADS) -> None:
        self.ledger = ledger
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="chatledger")

    @classmethod
    async def open(
        cls, database_url: str | None = None, *, threads: int = DEFAULT_THREADS, **options: Any
    ) -> AsyncLedger:
        """Open a Ledger (the same options) in a thread: opening creates the tables."""
        ledger = await asyncio.to_thread(Ledger, database_url, **options)
        return cls(ledger, threads=threads)

    async def run(self, call: Callable[[], R]) -> R:
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, context.run, call)

    start_chat = _awaitable(Ledger.start_chat)
    persist_user_message = _awaitable(Ledger.persist_user_message)
    persist_assistant_message = _awaitable(Ledger.persist_assistant_message)
    persist_messages = _awaitable(Ledger.persist_messages)
    import_chats = _awaitable(Ledger.import_chats)
    record_conversation = _awaitable(Ledger.record_conversation)
    open_stream = _awaitable(Ledger.open_stream)
    complete_stream = _awaitable(Ledger.complete_stream)
    fail_stream = _awaitable(Ledger.fail_stream)
    reap_abandoned_streams = _awaitable(Ledger.reap_abandoned_streams)
    count_prompt_tokens = _awaitable(Ledger.count_prompt_tokens)
    stats = _awaitable(Ledger.stats)
    audit_trail = _awaitable(Ledger.audit_trail)
    audit_records = _awaitable(Ledger.audit_records)
    list_chats = _awaitable(Ledger.list_chats)
    list_messages = _awaitable(Ledger.list_messages)
    replay_chat = _awaitable(Ledger.replay_chat)
    erase_user = _awaitable(Ledger.erase_user)
    catch_up = _awaitable(Ledger.catch_up)
    status = _awaitable(Ledger.status)
    rebuild = _awaitable(Ledger.rebuild)
    verify = _awaitable(Ledger.verify)

    async def aclose(self) -> None:
        """Waits for calls under way, then closes the ledger."""
        await asyncio.to_thread(self.executor.shutdown, wait=True)
        await asyncio.to_thread(self.ledger.close)

    async def __aenter__(self) -> AsyncLedger:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
