"""Ledger: the one object an application holds. It opens the pipeline that records and the read
side that answers on one database, offers every command and query as its own method, and closes
both together. Expected failures come back as results with a coded error; nothing raises."""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from pydantic import SecretStr

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.domain.ports import ContentProtector, TokenCounter
from chatledger.infrastructure.bootstrap import bootstrap, build_read_side
from chatledger.infrastructure.settings import Settings
from chatledger.projections.read_side import ReadSide

P = ParamSpec("P")
R = TypeVar("R")


def _delegated(
    method: Callable[Concatenate[Any, P], R], part: str
) -> Callable[Concatenate[Ledger, P], R]:
    """A method of the pipeline or the read side as a method of the Ledger: the same signature
    and documentation, called on the ledger's own `part`."""
    name = method.__name__

    @functools.wraps(method)
    def delegate(self: Ledger, /, *args: P.args, **kwargs: P.kwargs) -> R:
        bound: Callable[P, R] = getattr(getattr(self, part), name)
        return bound(*args, **kwargs)

    return delegate


class Ledger:
    """Open on a URL (`sqlite:///chatledger.sqlite`, `postgresql://user:pw@host/db`) or on
    settings; without either, the environment's CHATLEDGER_* settings. Thread-safe: concurrent
    callers share transactions (group commit). Use as a context manager, or call close()."""

    def __init__(
        self,
        database_url: str | None = None,
        *,
        settings: Settings | None = None,
        token_counter: TokenCounter | None = None,
        protector: ContentProtector | None = None,
        catch_up_on_read: bool | None = None,
    ) -> None:
        settings = settings or Settings()
        if database_url is not None:
            settings = settings.model_copy(update={"database_url": SecretStr(database_url)})
        self.settings = settings
        self.pipeline: PersistencePipeline = bootstrap(
            settings, token_counter=token_counter, protector=protector
        )
        try:
            # Here rather than in the first message: the default encoding (the one of current
            # models and of unknown ones) takes a fraction of a second to load.
            self.pipeline.token_counter.prepare(None)
            self.read_side: ReadSide = build_read_side(
                settings, self.pipeline, catch_up_on_read=catch_up_on_read
            )
        except BaseException:
            self.pipeline.close()
            raise

    # Recording
    start_chat = _delegated(PersistencePipeline.start_chat, "pipeline")
    persist_user_message = _delegated(PersistencePipeline.persist_user_message, "pipeline")
    persist_assistant_message = _delegated(
        PersistencePipeline.persist_assistant_message, "pipeline"
    )
    persist_messages = _delegated(PersistencePipeline.persist_messages, "pipeline")
    import_chats = _delegated(PersistencePipeline.import_chats, "pipeline")
    record_conversation = _delegated(PersistencePipeline.record_conversation, "pipeline")
    open_stream = _delegated(PersistencePipeline.open_stream, "pipeline")
    complete_stream = _delegated(PersistencePipeline.complete_stream, "pipeline")
    fail_stream = _delegated(PersistencePipeline.fail_stream, "pipeline")
    reap_abandoned_streams = _delegated(PersistencePipeline.reap_abandoned_streams, "pipeline")
    count_prompt_tokens = _delegated(PersistencePipeline.count_prompt_tokens, "pipeline")

    # Reading, auditing, erasing
    stats = _delegated(ReadSide.get_message_persistence_stats, "read_side")
    audit_trail = _delegated(ReadSide.audit_trail, "read_side")
    audit_records = _delegated(ReadSide.audit_records, "read_side")
    list_chats = _delegated(ReadSide.list_chats, "read_side")
    list_messages = _delegated(ReadSide.list_messages, "read_side")
    replay_chat = _delegated(ReadSide.replay_chat, "read_side")
    erase_user = _delegated(ReadSide.erase_user, "read_side")
    catch_up = _delegated(ReadSide.catch_up, "read_side")
    status = _delegated(ReadSide.status, "read_side")
    rebuild = _delegated(ReadSide.rebuild, "read_side")
    verify = _delegated(ReadSide.verify, "read_side")

    def close(self) -> None:
        try:
            self.read_side.close()
        finally:
            self.pipeline.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
