"""Recording a model call in the ledger, whichever SDK made it: the prompt before the call (each
message keyed by its place, so a resent history records nothing twice), then the reply whole, or
the stream opened before and closed after. The ledger's own failure is logged and counted and
never reaches the caller: its model call goes on and returns what the provider answered."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import structlog

from chatledger.domain.conversation_keys import conversation_keys, first_key
from chatledger.domain.conversation_recording import as_item
from chatledger.domain.messages import CommandResult
from chatledger.domain.stream_context import StreamContext
from chatledger.infrastructure.integrations.call_facts import Reply, error_code, error_summary

log = structlog.get_logger("chatledger.integrations")
R = TypeVar("R")


@dataclass(frozen=True)
class ChatTarget:
    """The chat a call belongs to, and the user who owns it."""

    chat_id: str
    user_id: str


_current_chat: ContextVar[ChatTarget | None] = ContextVar("chatledger_chat", default=None)


@contextmanager
def recording_chat(chat_id: str, user_id: str) -> Iterator[ChatTarget]:
    """Calls made inside (in this thread or task) are recorded in this chat, for this user."""
    target = ChatTarget(chat_id, user_id)
    token = _current_chat.set(target)
    try:
        yield target
    finally:
        _current_chat.reset(token)


class RecordingCounts:
    """How the recording of calls went: `recorded`, `not_recorded` and each reason; shared by
    the threads of one client."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


@dataclass(frozen=True)
class Command:
    """One ledger command the recording of a call makes: its method name and arguments."""

    name: str
    target: ChatTarget
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class CallPlanner:
    """Which commands record a call; the sync and async recorders run them."""

    def __init__(
        self, provider: str, bound: ChatTarget | None, counts: RecordingCounts | None = None
    ) -> None:
        self.provider = provider
        self.bound = bound
        self.counts = counts or RecordingCounts()

    def target(self) -> ChatTarget | None:
        target = self.bound or _current_chat.get()
        if target is None:
            self.counts.add("not_recorded")
            self.counts.add("no_chat")
            log.warning("model_call_not_recorded", reason="no chat", provider=self.provider)
        return target

    def prompt(self, target: ChatTarget, items: list[Any], model: Any) -> Command:
        """The command that records the prompt (the pipeline keys each message by its place)."""
        given = {"model": model} if isinstance(model, str) else {}
        return Command("record_conversation", target,
                       (target.chat_id, target.user_id, items), given)  # fmt: skip

    @staticmethod
    def place_after(target: ChatTarget, items: list[Any], recorded: Any) -> str:
        """The place of the prompt's last message, where the reply goes: as the pipeline
        computed it, or computed alike here when the prompt was not recorded."""
        place = getattr(recorded, "place", None)
        if isinstance(place, str):
            return place
        places = conversation_keys(target.chat_id, [as_item(item) for item in items])
        return places[-1] if places else first_key(target.chat_id)

    def reply(
        self, target: ChatTarget, facts: dict[str, Any], reply: Reply, after: str, ms: float
    ) -> Command:
        fields = {**facts, **reply.facts(), "generation_ms": round(ms, 3),
                  "conversation_key": reply.place_after(after)}  # fmt: skip
        return Command("persist_assistant_message", target,
                       (target.chat_id, target.user_id, reply.content), fields)  # fmt: skip

    def failure(
        self, target: ChatTarget, facts: dict[str, Any], error: BaseException, ms: float
    ) -> Command:
        fields = {**facts, "error_code": error_code(error), "error_message": error_summary(error),
                  "generation_ms": round(ms, 3)}  # fmt: skip
        return Command("persist_assistant_message", target,
                       (target.chat_id, target.user_id, ""), fields)  # fmt: skip

    def stream_opening(self, target: ChatTarget, facts: dict[str, Any]) -> Command:
        return Command("open_stream", target, (target.chat_id, target.user_id), facts)

    def stream_end(
        self, stream: StreamContext, reply: Reply, after: str, outcome: BaseException | None
    ) -> Command:
        target = ChatTarget(stream.chat_id, stream.user_id)
        if outcome is None:
            fields = {**reply.facts(), "conversation_key": reply.place_after(after)}
            return Command("complete_stream", target, (stream,), fields)
        if isinstance(outcome, GeneratorExit):
            code, summary = "STREAM_ABANDONED", "the caller stopped reading the stream"
        else:
            code, summary = error_code(outcome), error_summary(outcome)
        return Command("fail_stream", target, (stream, code, summary), {})

    def guarded(self, step: str, work: Callable[..., R], *args: Any) -> R | None:
        """The work's answer, or None when it fails: a shape of request or answer the drop-in
        cannot read is logged and counted, and the caller's call goes on unrecorded."""
        try:
            return work(*args)
        except Exception as error:
            self.unreadable(step, error)
            return None

    def unreadable(self, step: str, error: Exception) -> None:
        self.counts.add("not_recorded")
        self.counts.add("unreadable")
        log.warning("model_call_not_recorded", step=step, error=type(error).__name__,
                    provider=self.provider)  # fmt: skip

    def checked(self, command: Command, result: Any) -> Any:
        """The result, counted; a refusal is logged with its code (never the content)."""
        refused = [r for r in [result, *nested_results(result)] if not r.success]
        for refusal in refused:
            self.note_failure(command, refusal.error.code if refusal.error else "UNKNOWN")
        if not refused:
            self.counts.add("recorded")
        return result

    def note_failure(self, command: Command, code: str) -> None:
        self.counts.add("not_recorded")
        self.counts.add(code)
        log.warning("model_call_not_recorded", command=command.name, error_code=code,
                    chat_id=command.target.chat_id, user_id=command.target.user_id,
                    provider=self.provider)  # fmt: skip


def nested_results(result: Any) -> list[CommandResult]:
    """A batch's per-message results: one refused message is a failure to record too."""
    return list(getattr(result, "results", None) or [])


class ReplyAssembler(Protocol):
    """Puts a reply together from a provider's chunks or events."""

    def add(self, chunk: Any) -> str | None:
        """Take one chunk in; the text it adds (None: not a chunk of the reply's content)."""

    def reply(self) -> Reply: ...


class StreamEnding:
    """Records how a stream ended, once."""

    def __init__(self, stream: StreamContext | None, assembler: ReplyAssembler, after: str):
        self.stream = stream
        self.assembler = assembler
        self.after = after
        self.ended = stream is None  # nothing to record when the opening was not recorded
        self.readable = True

    def note(self, chunk: Any, planner: CallPlanner) -> None:
        if not self.readable:
            return
        try:
            text = self.assembler.add(chunk)
        except Exception as error:  # counted once; the chunks still reach the caller
            self.readable = False
            planner.unreadable("read a chunk", error)
            return
        if text is not None and self.stream is not None:
            self.stream.add_chunk(text)

    def reply(self, planner: CallPlanner) -> Reply:
        """The reply as far as it could be read: when the chunks could not be read, their text
        as far as it came, without the facts."""
        if not self.readable:
            return Reply(content=self.stream.content if self.stream else "")
        read = planner.guarded("assemble the reply", self.assembler.reply)
        return read or Reply(content=self.stream.content if self.stream else "")

    def take(self) -> StreamContext | None:
        """The stream to close, the first time only."""
        if self.ended:
            return None
        self.ended = True
        return self.stream


class CallRecorder:
    """Runs a planner's commands on a Ledger, in the caller's thread."""

    def __init__(self, ledger: Any, planner: CallPlanner) -> None:
        self.ledger = ledger
        self.planner = planner

    def run(self, command: Command) -> Any:
        method: Callable[..., Any] = getattr(self.ledger, command.name)
        try:
            return self.planner.checked(command, method(*command.args, **command.kwargs))
        except Exception as error:  # the ledger's failure is never the caller's
            self.planner.note_failure(command, type(error).__name__)
            return None

    def run_stream_end(self, ending: StreamEnding, outcome: BaseException | None) -> None:
        stream = ending.take()
        if stream is not None:
            reply = ending.reply(self.planner)
            self.run(self.planner.stream_end(stream, reply, ending.after, outcome))


class AsyncCallRecorder:
    """Runs a planner's commands on an AsyncLedger: the event loop never waits on the store."""

    def __init__(self, ledger: Any, planner: CallPlanner) -> None:
        self.ledger = ledger
        self.planner = planner

    async def run(self, command: Command) -> Any:
        method: Callable[..., Awaitable[Any]] = getattr(self.ledger, command.name)
        try:
            return self.planner.checked(command, await method(*command.args, **command.kwargs))
        except Exception as error:
            self.planner.note_failure(command, type(error).__name__)
            return None

    async def run_stream_end(self, ending: StreamEnding, outcome: BaseException | None) -> None:
        stream = ending.take()
        if stream is not None:
            reply = ending.reply(self.planner)
            await self.run(self.planner.stream_end(stream, reply, ending.after, outcome))


def opened_stream(result: Any) -> StreamContext | None:
    return getattr(result, "stream", None)
