"""The OpenAI SDK drop-in: `record_openai(OpenAI(), ledger)` is the client as it was, whose
`chat.completions.create` calls, whole or streamed, are recorded in the chat named by
`recording_chat(chat_id, user_id)` (or `client.for_chat(...)`). Any OpenAI-compatible server
(vLLM, Ollama, Azure, OpenRouter) is recorded alike: name it with `provider=`."""

from __future__ import annotations

from typing import Any

from chatledger.infrastructure.integrations.call_recording import (
    AsyncCallRecorder,
    CallPlanner,
    CallRecorder,
)
from chatledger.infrastructure.integrations.openai_format import (
    StreamedReply,
    completion_reply,
    message_items,
    request_facts,
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

OPENAI_FORMAT = ProviderFormat(
    message_items=lambda request: message_items(request.get("messages")),
    request_facts=request_facts,
    whole_reply=completion_reply,
    assembler=StreamedReply,
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
    return recorded_openai(client, ledger, call_planner("openai", provider, chat_id, user_id))


def recorded_openai(client: Any, ledger: Any, planner: CallPlanner) -> RecordedClient:
    if is_async_client(client.chat.completions.create):
        ledger = async_ledger_of(ledger)
        recorder: Any = AsyncCallRecorder(ledger, planner)
        completions: Any = AsyncRecordedCalls(client.chat.completions, recorder, OPENAI_FORMAT)
    else:
        ledger = sync_ledger_of(ledger)
        recorder = CallRecorder(ledger, planner)
        completions = RecordedCalls(client.chat.completions, recorder, OPENAI_FORMAT)
    chat = RecordedClient(client.chat, completions=completions)
    return RecordedClient(client, planner=planner, ledger=ledger, rebind=recorded_openai,
                          chat=chat)  # fmt: skip
