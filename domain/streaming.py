"""Streamed replies: open (visible at once in the audit trail), complete, fail, and reap."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import ConfigDict, Field

from chatledger.domain.application import PIPELINE_VERSION, ChatApplication, new_message_id, utc_now
from chatledger.domain.boundary import CommandRun, validate
from chatledger.domain.chat import Chat
from chatledger.domain.errors import ChatLedgerError, ErrorCode
from chatledger.domain.generation_facts import REQUEST_FIELDS
from chatledger.domain.message_recording import response_facts
from chatledger.domain.messages import (
    CommandResult,
    ContextItems,
    Generation,
    Intent,
    MessageIds,
    StreamEnd,
    StreamFailure,
)
from chatledger.domain.ports import content_binding
from chatledger.domain.sealed_message import Sealer
from chatledger.domain.stream_context import StreamContext
from chatledger.domain.topics import stored_topics

STREAM_EVENTS = (Chat.StreamOpened, Chat.StreamCompleted, Chat.StreamFailed)
STREAM_TOPICS = [topic for event in STREAM_EVENTS for topic in stored_topics(event)]


class OpenedStream(CommandResult):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    stream: StreamContext | None = None


class ReapResult(CommandResult):
    reaped: list[dict[str, str]] = Field(default_factory=list)


class StreamCommands(ChatApplication):
    def open_stream(
        self,
        chat_id: str,
        user_id: str,
        *,
        intent: Intent | dict[str, Any] | None = None,
        context: ContextItems | dict[str, Any] | None = None,
        model: str | None = None,
        temperature: float | None = None,
        provider: str | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
        metadata: dict[str, Any] | None = None,
        personal_metadata: dict[str, Any] | None = None,
        message_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> OpenedStream:
        """Record that a reply has started; feed the returned context each chunk as it arrives."""
        fields = {k: v for k, v in locals().items() if k != "self" and v is not None}

        def action(run: CommandRun) -> OpenedStream:
            generation = validate(Generation, **fields)
            message_id = generation.message_id or run.message_id or new_message_id()
            run.message_id = message_id

            def decide(chat: Chat) -> CommandResult:
                duplicate = self.find_duplicate(chat, generation, STREAM_EVENTS, None)
                if duplicate:
                    return duplicate
                chat.trigger_event(
                    Chat.StreamOpened,
                    message_id=run.message_id,
                    user_id=generation.user_id,
                    idempotency_key=generation.idempotency_key,
                    intent=generation.intent.model_dump() if generation.intent else None,
                    context=generation.context.model_dump(),
                    model=generation.model or chat.model,
                    temperature=generation.temperature,
                    **{name: getattr(generation, name) for name in REQUEST_FIELDS},
                    metadata=generation.metadata,
                    personal_metadata=self.sealed_metadata(
                        chat, message_id, generation.personal_metadata
                    ),
                    pipeline_version=PIPELINE_VERSION,
                )
                return CommandResult(success=True, chat_id=chat.id, message_id=run.message_id)

            result = self.append(run, generation, decide)
            if result.duplicate and not self.is_stream_open(generation.chat_id, run.message_id):
                warning = "the stream was already closed; no context is returned"
                return OpenedStream(**dict(result, warnings=[*result.warnings, warning]))
            stream = StreamContext(
                generation.chat_id, generation.user_id, run.message_id, generation.model
            )
            return OpenedStream(**dict(result), stream=stream)

        return self._command("open_stream", fields, action, OpenedStream)

    def complete_stream(
        self,
        stream: StreamContext,
        content: str | None = None,
        *,
        usage: dict[str, Any] | None = None,
        tool_calls: list[Any] | None = None,
        finish_reasons: list[str] | None = None,
        response_id: str | None = None,
        response_model: str | None = None,
        refusal: str | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
        metadata: dict[str, Any] | None = None,
        personal_metadata: dict[str, Any] | None = None,
        conversation_key: str | None = None,
    ) -> CommandResult:
        """Record the reply with its timings; `content` defaults to the chunks fed to `stream`.
        The response facts and `conversation_key` are as for `persist_assistant_message`."""
        facts = {"tool_calls": tool_calls, "finish_reasons": finish_reasons,
                 "response_id": response_id, "response_model": response_model,
                 "refusal": refusal, "conversation_key": conversation_key}  # fmt: skip
        fields = stream.ids()

        def action(run: CommandRun) -> CommandResult:
            started = self.clock()
            stream.check()
            text = content if content is not None else stream.content
            end = validate(
                StreamEnd, content=text, usage=usage, error_code=error_code,
                error_message=error_message, metadata=_given_or_empty(metadata),
                personal_metadata=_given_or_empty(personal_metadata),
                **{k: v for k, v in facts.items() if v is not None},
            )  # fmt: skip
            warnings: list[str] = []
            validated_s = self.clock() - started

            def decide(chat: Chat) -> CommandResult:
                closed = self.closed_stream(
                    chat, stream.message_id, Chat.StreamCompleted, end.content
                )
                if closed:
                    return closed
                model = stream.model or self.opened_model(chat, stream.message_id)
                self.token_counter.prepare(model)
                # Its own cost: not the wait for the chat's lock, nor the encoding's first load.
                deciding = self.clock()
                binding = content_binding(chat.id, stream.message_id)
                tokens = self.count_tokens(end.content or "", model, warnings)
                chat.trigger_event(
                    Chat.StreamCompleted,
                    **stream_timings(chat, stream),
                    content=self.protector.seal(chat.owner_id, end.content or "", binding),
                    tokens=tokens.model_dump(),
                    usage=end.usage.recorded() if end.usage else None,
                    processing_ms=_rounded((validated_s + self.clock() - deciding) * 1000.0),
                    error_code=end.error_code,
                    error_message=end.error_message,
                    metadata=end.metadata,
                    personal_metadata=self.sealed_metadata(
                        chat, stream.message_id, end.personal_metadata
                    ),
                    **response_facts(
                        end, Sealer(self.protector, chat.owner_id, chat.id, stream.message_id)
                    ),
                    model=model,
                    conversation_key=end.conversation_key,
                )
                return CommandResult(
                    success=True, chat_id=chat.id, message_id=stream.message_id, tokens=tokens,
                    warnings=warnings,
                )  # fmt: skip

            return self.append(run, validate(MessageIds, **stream.ids()), decide)

        return self._command("complete_stream", fields, action, CommandResult)

    def fail_stream(
        self,
        stream: StreamContext,
        error_code: str,
        error_message: str | None = None,
        *,
        metadata: dict[str, Any] | None = None,
        personal_metadata: dict[str, Any] | None = None,
    ) -> CommandResult:
        """Record that a stream ended in an error, keeping the partial reply the user saw."""
        fields = stream.ids()

        def action(run: CommandRun) -> CommandResult:
            stream.check()
            failure = validate(
                StreamFailure, error_code=error_code, error_message=error_message,
                content=stream.content, metadata=_given_or_empty(metadata),
                personal_metadata=_given_or_empty(personal_metadata),
            )  # fmt: skip

            def decide(chat: Chat) -> CommandResult:
                closed = self.closed_stream(chat, stream.message_id, Chat.StreamFailed, None)
                if closed:
                    return closed
                chat.trigger_event(
                    Chat.StreamFailed,
                    **stream_timings(chat, stream),
                    content=self.protector.seal(
                        chat.owner_id, failure.content, content_binding(chat.id, stream.message_id)
                    ),
                    error_code=failure.error_code,
                    error_message=failure.error_message,
                    metadata=failure.metadata,
                    personal_metadata=self.sealed_metadata(
                        chat, stream.message_id, failure.personal_metadata
                    ),
                )
                return CommandResult(success=True, chat_id=chat.id, message_id=stream.message_id)

            return self.append(run, validate(MessageIds, **stream.ids()), decide)

        return self._command("fail_stream", fields, action, CommandResult)

    def opened_model(self, chat: Chat, message_id: str) -> str | None:
        """The model recorded when the stream opened: a context rebuilt elsewhere (after a
        restart, or from an HTTP client's figures) does not carry it."""
        opened = self.recorded_event(chat, chat.message_versions[message_id])
        return getattr(opened, "model", None) or chat.model

    def is_stream_open(self, chat_id: str, message_id: str) -> bool:
        chat: Chat = self.repository.get(chat_id)
        return message_id in chat.open_streams

    def closed_stream(
        self, chat: Chat, message_id: str, expected: type[Chat.Event], content: str | None
    ) -> CommandResult | None:
        """None while the stream is open; the original result for a retried close; else an error."""
        if message_id in chat.open_streams:
            return None
        version = chat.message_versions.get(message_id)
        if version is not None and isinstance(self.recorded_event(chat, version), expected):
            return self.find_duplicate(chat, message_id, expected, content)
        raise ChatLedgerError(
            ErrorCode.STREAM_NOT_OPEN,
            "the stream is not open",
            {"chat_id": chat.id, "message_id": message_id},
        )

    def reap_abandoned_streams(
        self, older_than: timedelta, now: datetime | None = None
    ) -> ReapResult:
        """Close, with STREAM_ABANDONED, every stream opened before `now - older_than` and never
        completed (its process died or its client went away)."""

        def action(run: CommandRun) -> ReapResult:
            cutoff = (now or utc_now()) - older_than
            reaped = []
            for chat_id, message_id in self.streams_opened_before(cutoff):
                if self.reap(run, chat_id, message_id, cutoff):
                    reaped.append({"chat_id": chat_id, "message_id": message_id})
            return ReapResult(success=True, reaped=reaped)

        return self._command("reap_abandoned_streams", {}, action, ReapResult)

    def streams_opened_before(self, cutoff: datetime) -> list[tuple[str, str]]:
        # Scans the stream events of the whole log; the read models (messages with status
        # 'streaming') answer this faster once they exist.
        open_streams: dict[tuple[str, str], datetime] = {}
        start = 1
        while True:
            page = self.recorder.select_notifications(start, 1000, topics=STREAM_TOPICS)
            for notification in page:
                event = self.mapper.to_domain_event(notification)
                assert isinstance(event, Chat.MessageEvent)
                key = (event.originator_id, event.message_id)
                if isinstance(event, Chat.StreamOpened):
                    open_streams[key] = event.timestamp
                else:
                    open_streams.pop(key, None)
            if len(page) < 1000:
                break
            start = page[-1].id + 1
        return [key for key, opened in open_streams.items() if opened < cutoff]

    def reap(self, run: CommandRun, chat_id: str, message_id: str, cutoff: datetime) -> bool:
        chat: Chat = self.repository.get(chat_id)
        opened = chat.open_streams.get(message_id)
        if opened is None or datetime.fromisoformat(opened) >= cutoff:
            return False  # completed or failed meanwhile

        reaped: list[str] = []

        def decide(current: Chat) -> CommandResult:
            if message_id in current.open_streams:
                reaped.append(message_id)
                current.trigger_event(
                    Chat.StreamFailed,
                    message_id=message_id,
                    user_id=current.owner_id,
                    opened_at=current.open_streams[message_id],
                    content="",
                    first_chunk_ms=None,
                    duration_ms=None,
                    chunk_count=0,
                    error_code=ErrorCode.STREAM_ABANDONED.value,
                    error_message="the stream was never completed and was reaped",
                    metadata={"reaped_at": utc_now().isoformat()},
                )
            return CommandResult(success=True)

        ids = MessageIds(chat_id=chat_id, user_id=chat.owner_id)
        self.append(run, ids, decide, erased_too=True)  # no content: an erased user's too
        return bool(reaped)


def stream_timings(chat: Chat, stream: StreamContext) -> dict[str, Any]:
    """What closing a stream records about it, however it closes: who, since when, how it ran."""
    opened_at = chat.open_streams[stream.message_id]
    return {
        "message_id": stream.message_id,
        "user_id": chat.owner_id,
        "opened_at": opened_at,
        "first_chunk_ms": _rounded(stream.first_chunk_ms),
        "duration_ms": _rounded(stream.duration_ms(opened_at)),
        "chunk_count": stream.chunk_count,
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _given_or_empty(metadata: Any) -> Any:
    """None means none; anything else given is validated as it is (`[]` is not an object)."""
    return {} if metadata is None else metadata
