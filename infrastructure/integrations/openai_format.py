"""OpenAI's chat-completions format as ChatLedger records it: the messages a call sends, the
reply it answers whole, and the reply it streams in chunks. Pure: no SDK import, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chatledger.infrastructure.integrations.call_facts import Reply, as_plain, usage_of

# Fields of a message the ledger records; the rest (audio, annotations) is the provider's own.
MESSAGE_FIELDS = ("role", "content", "name", "tool_calls", "tool_call_id", "refusal")


def message_items(messages: Any) -> list[Any]:
    """The messages of a request as ChatLedger message items, in order; what is not a message
    goes as it is, to be refused on its own."""
    return [message_item(message) for message in as_plain(messages or [])]


def message_item(message: Any) -> Any:
    if not isinstance(message, Mapping):
        return message
    item = {k: message[k] for k in MESSAGE_FIELDS if message.get(k) is not None}
    item.setdefault("content", "")
    if "tool_calls" in item:
        item["tool_calls"] = [tool_call(call) for call in item["tool_calls"]]
    return item


def tool_call(call: Any) -> Any:
    if not isinstance(call, Mapping) or not isinstance(call.get("function"), Mapping):
        return call
    function = call["function"]
    return {"id": call.get("id"), "name": function.get("name"),
            "arguments": function.get("arguments")}  # fmt: skip


def request_facts(request: Mapping[str, Any], provider: str) -> dict[str, Any]:
    """What the call asked for, as the ledger's request parameters."""
    max_tokens = request.get("max_completion_tokens", request.get("max_tokens"))
    facts = {"model": request.get("model"), "temperature": request.get("temperature"),
             "top_p": request.get("top_p"), "max_tokens": max_tokens,
             "seed": request.get("seed"), "provider": provider}  # fmt: skip
    return {k: v for k, v in facts.items() if isinstance(v, str | int | float)}


def completion_reply(completion: Any) -> Reply:
    """A whole reply (ChatCompletion): its first choice, as the caller reads it."""
    answer = as_plain(completion)
    choices = answer.get("choices") or [{}]
    first = choices[0]
    message = first.get("message") or {}
    return Reply(
        content=message.get("content") or "",
        tool_calls=[tool_call(call) for call in message.get("tool_calls") or []],
        refusal=message.get("refusal"),
        finish_reasons=[c["finish_reason"] for c in choices if c.get("finish_reason")],
        response_id=answer.get("id"),
        response_model=answer.get("model"),
        usage=openai_usage(answer.get("usage")),
    )


def openai_usage(usage: Any) -> dict[str, Any] | None:
    if not isinstance(usage, Mapping):
        return None
    return usage_of(
        input_tokens=usage.get("prompt_tokens"),
        output_tokens=usage.get("completion_tokens"),
        cached_input_tokens=(usage.get("prompt_tokens_details") or {}).get("cached_tokens"),
        reasoning_tokens=(usage.get("completion_tokens_details") or {}).get("reasoning_tokens"),
    )


@dataclass
class StreamedReply:
    """The first choice of a streamed reply, put together chunk by chunk as the caller reads."""

    texts: list[str] = field(default_factory=list)
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    refusal: list[str] = field(default_factory=list)
    finish_reasons: list[str] = field(default_factory=list)
    response_id: str | None = None
    response_model: str | None = None
    usage: dict[str, Any] | None = None

    def add(self, chunk: Any) -> str | None:
        """Take one chunk in; the text it adds to the reply, if it carries a delta for it."""
        plain = as_plain(chunk)
        self.response_id = self.response_id or plain.get("id")
        self.response_model = self.response_model or plain.get("model")
        self.usage = openai_usage(plain.get("usage")) or self.usage
        for choice in plain.get("choices") or []:
            if choice.get("index", 0) == 0:
                return self.add_choice(choice)
        return None

    def add_choice(self, choice: Mapping[str, Any]) -> str:
        delta = choice.get("delta") or {}
        for fragment in delta.get("tool_calls") or []:
            call = self.calls.setdefault(fragment.get("index", 0), {"arguments": ""})
            function = fragment.get("function") or {}
            call["id"] = fragment.get("id") or call.get("id")
            call["name"] = function.get("name") or call.get("name")
            call["arguments"] += function.get("arguments") or ""
        if delta.get("refusal"):
            self.refusal.append(delta["refusal"])
        if choice.get("finish_reason"):
            self.finish_reasons.append(choice["finish_reason"])
        text = delta.get("content") or ""
        self.texts.append(text)
        return text

    def reply(self) -> Reply:
        return Reply(
            content="".join(self.texts),
            tool_calls=[self.calls[index] for index in sorted(self.calls)],
            refusal="".join(self.refusal) or None,
            finish_reasons=self.finish_reasons,
            response_id=self.response_id,
            response_model=self.response_model,
            usage=self.usage,
        )
