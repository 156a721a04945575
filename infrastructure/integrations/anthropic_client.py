"""The Anthropic SDK drop-in: `record_anthropic(Anthropic(), ledger)` is the client as it was,
whose `messages.create` (whole or `stream=True`) and `messages.stream` calls are recorded in the
chat named by `recording_chat(chat_id, user_id)` (or `client.for_chat(...)`).

`messages.stream` answers the SDK's own MessageStream (text_stream, get_final_message, ...),
made over the recorded raw stream: every helper of it reads through the recording."""

from __future__ import annotations

from typing import Any

import structlog

from chatledger.infrastructure.integrations.anthropic_format import (
    StreamedMessage,
    message_items,
    message_reply,
    request_facts,
)
from chatledger.infrastructure.integrations.call_recording import (
    AsyncCallRecorder,
    CallPlanner,
    CallRecorder,
)
from chatledger.infrastructure.integrations.recorded_calls import (
    AsyncRecordedCalls,
    ProviderFormat,
    RecordedCalls,
)
from chatledger.infrastructure.integrations.sdk_proxy import (
    RecordedClient,
    async_ledger_of,
    call_planner,
    is_async_client,
    sync_ledger_of,
)

log = structlog.get_logger("chatledger.integrations")

ANTHROPIC_FORMAT = ProviderFormat(
    message_items=message_items,
    request_facts=request_facts,
    whole_reply=message_reply,
    assembler=StreamedMessage,
)


def record_anthropic(
    client: Any,
    ledger: Any,
    *,
    provider: str = "anthropic",
    chat_id: str | None = None,
    user_id: str | None = None,
) -> Any:
    """`client` (Anthropic or AsyncAnthropic) recording into `ledger` (a Ledger, or an
    AsyncLedger for the async client). With `chat_id` and `user_id`, every call goes there."""
    return recorded_anthropic(client, ledger, call_planner("anthropic", provider, chat_id, user_id))


def recorded_anthropic(client: Any, ledger: Any, planner: CallPlanner) -> RecordedClient:
    if is_async_client(client.messages.create):
        ledger = async_ledger_of(ledger)
        recorder = AsyncCallRecorder(ledger, planner)
        messages: Any = AsyncRecordedMessages(client.messages, recorder, ANTHROPIC_FORMAT)
    else:
        ledger = sync_ledger_of(ledger)
        messages = RecordedMessages(client.messages, CallRecorder(ledger, planner),
                                    ANTHROPIC_FORMAT)  # fmt: skip
    return RecordedClient(client, planner=planner, ledger=ledger, rebind=recorded_anthropic,
                          messages=messages)  # fmt: skip


class RecordedMessages(RecordedCalls):
    def stream(self, **request: Any) -> Any:
        if "output_format" in request:  # parsed into the request by the SDK alone
            return unrecorded(self.recorder.planner, self.wrapped.stream(**request))
        return MessageStreamManager(lambda: self.create(**request, stream=True))


class AsyncRecordedMessages(AsyncRecordedCalls):
    def stream(self, **request: Any) -> Any:
        if "output_format" in request:
            return unrecorded(self.recorder.planner, self.wrapped.stream(**request))
        return AsyncMessageStreamManager(lambda: self.create(**request, stream=True))


def unrecorded(planner: CallPlanner, manager: Any) -> Any:
    """A call the drop-in cannot record as the SDK makes it: counted, and logged."""
    planner.counts.add("not_recorded")
    planner.counts.add("output_format")
    log.warning("model_call_not_recorded", reason="messages.stream with output_format",
                provider=planner.provider)  # fmt: skip
    return manager


class MessageStreamManager:
    """As the SDK's: `with client.messages.stream(...) as stream:`."""

    def __init__(self, open_raw_stream: Any) -> None:
        self.open_raw_stream = open_raw_stream
        self.stream: Any = None

    def __enter__(self) -> Any:
        from anthropic import NOT_GIVEN
        from anthropic.lib.streaming import MessageStream

        self.stream = MessageStream(self.open_raw_stream(), output_format=NOT_GIVEN)
        return self.stream

    def __exit__(self, *exc_info: object) -> None:
        if self.stream is not None:
            self.stream.close()


class AsyncMessageStreamManager:
    """As the SDK's: `async with client.messages.stream(...) as stream:`."""

    def __init__(self, open_raw_stream: Any) -> None:
        self.open_raw_stream = open_raw_stream
        self.stream: Any = None

    async def __aenter__(self) -> Any:
        from anthropic import NOT_GIVEN
        from anthropic.lib.streaming import AsyncMessageStream

        raw_stream = await self.open_raw_stream()
        self.stream = AsyncMessageStream(raw_stream, output_format=NOT_GIVEN)
        return self.stream

    async def __aexit__(self, *exc_info: object) -> None:
        if self.stream is not None:
            await self.stream.close()
