"""Ingest conversations through the pipeline: idempotent (message ids derive from the
conversation id and turn), windows of conversations in one transaction, several windows at once
so that their transactions share commits. Every turn keeps its role and all its fields, and one
that cannot be recorded is reported on its own (line, turn, code, reason): its neighbours are
recorded."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from chatledger.domain.chat_import import MAX_IMPORT_MESSAGES
from chatledger.domain.errors import ErrorCode
from chatledger.domain.messages import CommandResult
from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.ingest.conversations import Conversation, UnreadableLine


@dataclass
class IngestTotals:
    conversations: int = 0
    recorded: int = 0
    duplicates: int = 0
    failed: int = 0
    unreadable_lines: list[int] = field(default_factory=list)
    error_codes: Counter[str] = field(default_factory=Counter)
    tokens: int = 0
    # (line, turn, error code, reason) of each message that was not recorded, in input order.
    failures: list[tuple[int, int, str, str]] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return self.recorded + self.duplicates + self.failed

    def add(self, other: IngestTotals) -> None:
        self.conversations += other.conversations
        self.recorded += other.recorded
        self.duplicates += other.duplicates
        self.failed += other.failed
        self.unreadable_lines.extend(other.unreadable_lines)
        self.error_codes.update(other.error_codes)
        self.tokens += other.tokens
        self.failures.extend(other.failures)

    def count(self, result: CommandResult, line: int = 0, turn: int = 0) -> None:
        if not result.success:
            code = result.error.code.value if result.error else "UNKNOWN"
            reason = result.error.message if result.error else ""
            self.failed += 1
            self.error_codes[code] += 1
            self.failures.append((line, turn, code, reason))
        elif result.duplicate:
            self.duplicates += 1
        else:
            self.recorded += 1
            self.tokens += result.tokens.count if result.tokens else 0


@dataclass(frozen=True)
class Ingestor:
    pipeline: PersistencePipeline
    user_id: str
    stream_replies: bool = False
    chunk_chars: int = 24
    clients: int = 4
    window_messages: int = 500

    def ingest(
        self, items: Iterable[Conversation | UnreadableLine], totals: IngestTotals
    ) -> Iterator[IngestTotals]:
        """Record each conversation; yields the running totals after each line of the file."""
        for line in self.lines(items):
            totals.add(line)
            yield totals

    def lines(self, items: Iterable[Conversation | UnreadableLine]) -> Iterator[IngestTotals]:
        """What each line came to, as it is done: a conversation's counts, or an unreadable
        line. Windows of conversations are recorded by `clients` threads at once."""
        with ThreadPoolExecutor(max_workers=self.clients) as pool:
            in_flight: deque[tuple[list[Conversation], Future[list[list[CommandResult]]]]]
            in_flight = deque()
            for window in self.windows(items):
                if isinstance(window, UnreadableLine):
                    yield IngestTotals(unreadable_lines=[window.line_number])
                    continue
                in_flight.append((window, pool.submit(self.record_window, window)))
                if len(in_flight) > 2 * self.clients:  # read ahead, never the whole file
                    yield from self.counted(*in_flight.popleft())
            while in_flight:
                yield from self.counted(*in_flight.popleft())

    def windows(
        self, items: Iterable[Conversation | UnreadableLine]
    ) -> Iterator[list[Conversation] | UnreadableLine]:
        """Runs of conversations of up to `window_messages` messages, each one transaction."""
        window: list[Conversation] = []
        size = 0
        for item in items:
            if isinstance(item, UnreadableLine):
                yield item
                continue
            if window and size + len(item.messages) > self.window_messages:
                yield window
                window, size = [], 0
            window.append(item)
            size += len(item.messages)
        if window:
            yield window

    @staticmethod
    def counted(
        window: list[Conversation], recorded: Future[list[list[CommandResult]]]
    ) -> Iterator[IngestTotals]:
        for conversation, results in zip(window, recorded.result(), strict=True):
            line = IngestTotals(conversations=1)
            for turn, result in enumerate(results):
                line.count(result, conversation.line, turn)
            yield line

    def record_window(self, window: list[Conversation]) -> list[list[CommandResult]]:
        """One transaction for the window; where a conversation of it is refused, one
        conversation at a time, so that each refusal names the conversation it belongs to."""
        if self.stream_replies or len(window) == 1:
            return [self.record(conversation) for conversation in window]
        imported = self.pipeline.import_chats(self.user_id, [self.chat_spec(c) for c in window])
        if imported.success:
            return [chat.results for chat in imported.chats]
        if imported.error and imported.error.code is ErrorCode.PERSISTENCE_ERROR:
            # The store failed, not a conversation: trying each alone would wait out the
            # timeout once per conversation. The rerun of the ingest records the window.
            return [[imported] * len(c.messages) for c in window]
        return [self.record(conversation) for conversation in window]

    def chat_spec(self, conversation: Conversation) -> dict[str, Any]:
        chat_id = conversation.conversation_id
        messages = [self.batch_item(conversation, i) for i in range(len(conversation.messages))]
        return {"chat_id": chat_id, "title": chat_id, "model": conversation.model,
                "messages": messages}  # fmt: skip

    def record(self, conversation: Conversation) -> list[CommandResult]:
        """One conversation alone: each message recorded or refused on its own (an import of
        one chat), or with `stream_replies` one message at a time."""
        chat_id, turns = conversation.conversation_id, len(conversation.messages)
        if self.stream_replies:
            started = self.pipeline.start_chat(
                chat_id, self.user_id, title=chat_id, model=conversation.model
            )
            if not started.success:
                return [started] * turns
            return [self.record_turn(conversation, index) for index in range(turns)]
        results: list[CommandResult] = []
        spec = self.chat_spec(conversation)
        for start in range(0, max(turns, 1), MAX_IMPORT_MESSAGES):
            part = spec["messages"][start : start + MAX_IMPORT_MESSAGES]
            imported = self.pipeline.import_chats(self.user_id, [{**spec, "messages": part}])
            # A refused chat is one failure even when it has no message to refuse.
            refused = [imported] * max(len(part), 1)
            results.extend(imported.chats[0].results if imported.success else refused)
        return results

    def batch_item(self, conversation: Conversation, index: int) -> Any:
        """The turn as the pipeline takes it: its role and fields as the line has them, an id
        from the conversation and the turn, and where it came from. What is not a message
        object goes as it is, to be refused on its own."""
        turn = conversation.messages[index]
        if not isinstance(turn, dict):
            return turn
        item = {k: v for k, v in turn.items() if v is not None}
        item.setdefault("content", "")
        item["message_id"] = f"{conversation.conversation_id}:{index}"
        if turn.get("role") == "assistant":
            origin = {"generation_source": "ingest"}
            if conversation.model is not None:
                item.setdefault("model", conversation.model)
        else:
            origin = {"source": conversation.source or "ingest"}
        metadata = item.get("metadata", {})
        item["metadata"] = {**metadata, **origin} if isinstance(metadata, dict) else metadata
        return item

    def record_turn(self, conversation: Conversation, index: int) -> CommandResult:
        """One message at a time, replies streamed in chunks, as a live chat backend sends them."""
        chat_id, item = conversation.conversation_id, self.batch_item(conversation, index)
        if not streamable(item):  # recorded whole, or refused on its own
            batch = self.pipeline.persist_messages(chat_id, self.user_id, [item])
            return batch.results[0] if batch.success else batch
        opened = self.pipeline.open_stream(
            chat_id, self.user_id, message_id=item["message_id"], model=item.get("model"),
            metadata={"generation_source": "demo-stream"},
        )  # fmt: skip
        if opened.stream is None:
            return opened
        content = item["content"]
        for start in range(0, len(content), self.chunk_chars):
            opened.stream.add_chunk(content[start : start + self.chunk_chars])
        facts = {k: item[k] for k in ("finish_reasons", "response_id", "refusal") if k in item}
        return self.pipeline.complete_stream(opened.stream, usage=item.get("usage"), **facts)


def streamable(item: Any) -> bool:
    """A reply of text only is streamed; tool calls and parts are recorded whole."""
    return (
        isinstance(item, dict)
        and item.get("role") == "assistant"
        and isinstance(item.get("content"), str)
        and not item.get("tool_calls")
    )
