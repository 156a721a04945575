"""The OpenAI SDK drop-in: `record_openai(OpenAI(), ledger)` is the client as it was, whose
`chat.completions.create` calls, whole or streamed, are recorded in the chat named by
`recording_chat(chat_id, user_id)` (or `client.for_chat(...)`). Any OpenAI-compatible server
(vLLM, Ollama, Azure, OpenRouter) is recorded alike: name it with `provider=`."""

from __future__ import annotations

from time import perf_counter
from typing import Any

from chatledger.infrastructure.integrations.call_recording import (
    AsyncCallRecorder,
    CallPlanner,
    CallRecorder,
    ChatTarget,
    StreamEnding,
    opened_stream,
)
from chatledger.infrastructure.integrations.openai_format import (
    StreamedReply,
    completion_reply,
    message_items,
    request_facts,
)
from chatledger.infrastructure.integrations.recorded_streams import (
    AsyncRecordedStream,
    RecordedStream,
)
from chatledger.infrastructure.integrations.sdk_proxy import (
    Proxy,
    async_ledger_of,
    is_async_client,
    require_extra,
)


def record_openai(
    client: Any,
    ledger: Any,
    *,
    provider: str = "openai",
    chat_id: str | None = None,
    user_id: str | None = None,
) -> Any:
    """`client` (OpenAI or AsyncOpenAI) recording into `ledger` (a Ledger, or an AsyncLedger
    for the async client). With `chat_id` and `user_id`, every call goes to that chat."""
    require_extra("openai")
    bound = ChatTarget(chat_id, user_id) if chat_id and user_id else None
    planner = CallPlanner(provider, bound)
    if is_async_client(client.chat.completions.create):
        return AsyncRecordedOpenAI(client, AsyncCallRecorder(async_ledger_of(ledger), planner))
    return RecordedOpenAI(client, CallRecorder(ledger, planner))


class RecordedOpenAI(Proxy):
    def __init__(self, client: Any, recorder: CallRecorder) -> None:
        super().__init__(client)
        self.recorder = recorder
        completions = RecordedCompletions(client.chat.completions, recorder)
        self.chat = Proxy(client.chat, completions=completions)

    def for_chat(self, chat_id: str, user_id: str) -> RecordedOpenAI:
        """The same client, recording every call in this chat."""
        planner = self.recorder.planner
        bound = CallPlanner(planner.provider, ChatTarget(chat_id, user_id), planner.counts)
        return RecordedOpenAI(self.wrapped, CallRecorder(self.recorder.ledger, bound))

    @property
    def recording_counts(self) -> dict[str, int]:
        return self.recorder.planner.counts.as_dict()


class RecordedCompletions(Proxy):
    def __init__(self, completions: Any, recorder: CallRecorder) -> None:
        super().__init__(completions)
        self.recorder = recorder

    def create(self, **request: Any) -> Any:
        planner = self.recorder.planner
        target = planner.target()
        if target is None:
            return self.wrapped.create(**request)
        facts = request_facts(request, planner.provider)
        command, after = planner.prompt(target, message_items(request.get("messages")),
                                        facts.get("model"))  # fmt: skip
        self.recorder.run(command)
        if request.get("stream"):
            return self.streamed(target, request, facts, after)
        started = perf_counter()
        try:
            completion = self.wrapped.create(**request)
        except Exception as error:
            ms = (perf_counter() - started) * 1000
            self.recorder.run(planner.failure(target, facts, error, ms))
            raise
        ms = (perf_counter() - started) * 1000
        self.recorder.run(planner.reply(target, facts, completion_reply(completion), after, ms))
        return completion

    def streamed(
        self, target: ChatTarget, request: dict[str, Any], facts: dict[str, Any], after: str
    ) -> Any:
        opening = self.recorder.planner.stream_opening(target, facts)
        ending = StreamEnding(opened_stream(self.recorder.run(opening)), StreamedReply(), after)
        try:
            stream = self.wrapped.create(**request)
        except Exception as error:
            self.recorder.run_stream_end(ending, error)
            raise
        return RecordedStream(stream, self.recorder, ending)


class AsyncRecordedOpenAI(Proxy):
    def __init__(self, client: Any, recorder: AsyncCallRecorder) -> None:
        super().__init__(client)
        self.recorder = recorder
        completions = AsyncRecordedCompletions(client.chat.completions, recorder)
        self.chat = Proxy(client.chat, completions=completions)

    def for_chat(self, chat_id: str, user_id: str) -> AsyncRecordedOpenAI:
        planner = self.recorder.planner
        bound = CallPlanner(planner.provider, ChatTarget(chat_id, user_id), planner.counts)
        return AsyncRecordedOpenAI(self.wrapped, AsyncCallRecorder(self.recorder.ledger, bound))

    @property
    def recording_counts(self) -> dict[str, int]:
        return self.recorder.planner.counts.as_dict()


class AsyncRecordedCompletions(Proxy):
    def __init__(self, completions: Any, recorder: AsyncCallRecorder) -> None:
        super().__init__(completions)
        self.recorder = recorder

    async def create(self, **request: Any) -> Any:
        planner = self.recorder.planner
        target = planner.target()
        if target is None:
            return await self.wrapped.create(**request)
        facts = request_facts(request, planner.provider)
        command, after = planner.prompt(target, message_items(request.get("messages")),
                                        facts.get("model"))  # fmt: skip
        await self.recorder.run(command)
        if request.get("stream"):
            return await self.streamed(target, request, facts, after)
        started = perf_counter()
        try:
            completion = await self.wrapped.create(**request)
        except Exception as error:
            ms = (perf_counter() - started) * 1000
            await self.recorder.run(planner.failure(target, facts, error, ms))
            raise
        ms = (perf_counter() - started) * 1000
        reply = completion_reply(completion)
        await self.recorder.run(planner.reply(target, facts, reply, after, ms))
        return completion

    async def streamed(
        self, target: ChatTarget, request: dict[str, Any], facts: dict[str, Any], after: str
    ) -> Any:
        opening = self.recorder.planner.stream_opening(target, facts)
        opened = opened_stream(await self.recorder.run(opening))
        ending = StreamEnding(opened, StreamedReply(), after)
        try:
            stream = await self.wrapped.create(**request)
        except Exception as error:
            await self.recorder.run_stream_end(ending, error)
            raise
        return AsyncRecordedStream(stream, self.recorder, ending)
