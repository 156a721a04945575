"""The one method of an SDK that makes a model call (`chat.completions.create`,
`messages.create`), recorded: the prompt before the call, then the reply whole or the stream as
the caller reads it. What differs between providers is their format (a `ProviderFormat`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from chatledger.infrastructure.integrations.call_facts import Reply
from chatledger.infrastructure.integrations.call_recording import (
    AsyncCallRecorder,
    CallRecorder,
    ChatTarget,
    Command,
    ReplyAssembler,
    StreamEnding,
    opened_stream,
)
from chatledger.infrastructure.integrations.recorded_streams import (
    AsyncRecordedStream,
    RecordedStream,
)
from chatledger.infrastructure.integrations.sdk_proxy import Proxy


@dataclass(frozen=True)
class ProviderFormat:
    """How one provider's requests and answers read as ChatLedger's messages and facts."""

    message_items: Callable[[dict[str, Any]], list[Any]]
    request_facts: Callable[[dict[str, Any], str], dict[str, Any]]
    whole_reply: Callable[[Any], Reply]
    assembler: Callable[[], ReplyAssembler]


@dataclass
class PlannedCall:
    target: ChatTarget
    facts: dict[str, Any]
    prompt: Command
    items: list[Any]
    after: str = ""  # the place of the prompt's last message, once the prompt is recorded


def plan_call(recorder: Any, form: ProviderFormat, request: dict[str, Any]) -> PlannedCall | None:
    """How to record the call; None to make it unrecorded (no chat, or a request the drop-in
    cannot read: logged and counted)."""
    planner = recorder.planner
    target = planner.target()
    if target is None:
        return None

    def planned() -> PlannedCall:
        facts = form.request_facts(request, planner.provider)
        items = form.message_items(request)
        return PlannedCall(target, facts, planner.prompt(target, items, facts.get("model")), items)

    found: PlannedCall | None = planner.guarded("read the request", planned)
    return found


def elapsed_ms(started: float) -> float:
    return (perf_counter() - started) * 1000


class RecordedCalls(Proxy):
    """An SDK resource whose `create` records its calls; the rest is the SDK's own."""

    def __init__(self, resource: Any, recorder: CallRecorder, form: ProviderFormat) -> None:
        super().__init__(resource)
        self.recorder = recorder
        self.form = form

    def create(self, **request: Any) -> Any:
        call = plan_call(self.recorder, self.form, request)
        if call is None:
            return self.wrapped.create(**request)
        recorded = self.recorder.run(call.prompt)
        call.after = self.recorder.planner.place_after(call.target, call.items, recorded)
        if request.get("stream"):
            return self.streamed(call, request)
        planner, started = self.recorder.planner, perf_counter()
        try:
            answer = self.wrapped.create(**request)
        except Exception as error:
            self.recorder.run(planner.failure(call.target, call.facts, error, elapsed_ms(started)))
            raise
        ms = elapsed_ms(started)
        reply = planner.guarded("read the answer", self.form.whole_reply, answer)
        if reply is not None:
            self.recorder.run(planner.reply(call.target, call.facts, reply, call.after, ms))
        return answer

    def streamed(self, call: PlannedCall, request: dict[str, Any]) -> Any:
        opening = self.recorder.planner.stream_opening(call.target, call.facts)
        opened = opened_stream(self.recorder.run(opening))
        ending = StreamEnding(opened, self.form.assembler(), call.after)
        try:
            stream = self.wrapped.create(**request)
        except Exception as error:
            self.recorder.run_stream_end(ending, error)
            raise
        return RecordedStream(stream, self.recorder, ending)


class AsyncRecordedCalls(Proxy):
    """The same for the SDKs' async clients."""

    def __init__(self, resource: Any, recorder: AsyncCallRecorder, form: ProviderFormat) -> None:
        super().__init__(resource)
        self.recorder = recorder
        self.form = form

    async def create(self, **request: Any) -> Any:
        call = plan_call(self.recorder, self.form, request)
        if call is None:
            return await self.wrapped.create(**request)
        recorded = await self.recorder.run(call.prompt)
        call.after = self.recorder.planner.place_after(call.target, call.items, recorded)
        if request.get("stream"):
            return await self.streamed(call, request)
        planner, started = self.recorder.planner, perf_counter()
        try:
            answer = await self.wrapped.create(**request)
        except Exception as error:
            failure = planner.failure(call.target, call.facts, error, elapsed_ms(started))
            await self.recorder.run(failure)
            raise
        ms = elapsed_ms(started)
        reply = planner.guarded("read the answer", self.form.whole_reply, answer)
        if reply is not None:
            await self.recorder.run(planner.reply(call.target, call.facts, reply, call.after, ms))
        return answer

    async def streamed(self, call: PlannedCall, request: dict[str, Any]) -> Any:
        opening = self.recorder.planner.stream_opening(call.target, call.facts)
        opened = opened_stream(await self.recorder.run(opening))
        ending = StreamEnding(opened, self.form.assembler(), call.after)
        try:
            stream = await self.wrapped.create(**request)
        except Exception as error:
            await self.recorder.run_stream_end(ending, error)
            raise
        return AsyncRecordedStream(stream, self.recorder, ending)
