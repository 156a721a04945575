"""Ingest conversations through the pipeline: idempotent (message ids derive from the
conversation id and turn), each conversation's messages in one transaction, several
conversations at once so that their transactions share commits."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from chatledger.domain.batch import MAX_BATCH_MESSAGES
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

    def count(self, result: CommandResult) -> None:
        if not result.success:
            self.failed += 1
            self.error_codes[result.error.code.value if result.error else "UNKNOWN"] += 1
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
            in_flight: deque[Future[list[list[CommandResult]]]] = deque()
            for window in self.windows(items):
                if isinstance(window, UnreadableLine):
                    yield IngestTotals(unreadable_lines=[window.line_number])
                    continue
                in_flight.append(pool.submit(self.record_window, window))
                if len(in_flight) > 2 * self.clients:  # read ahead, never the whole file
                    yield from self.counted(in_flight.popleft().result())
            while in_flight:
                yield from self.counted(in_flight.popleft().result())

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
    def counted(conversations: list[list[CommandResult]]) -> Iterator[IngestTotals]:
        for results in conversations:
            line = IngestTotals(conversations=1)
            for result in results:
                line.count(result)
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
        chat_id = conversation.conversation_id
        started = self.pipeline.start_chat(
            chat_id, self.user_id, title=chat_id, model=conversation.model
        )
        if not started.success:
            return [started]
        if self.stream_replies:
            return [
                self.record_turn(conversation, index) for index in range(len(conversation.messages))
            ]
        items = [
            self.batch_item(conversation, index) for index in range(len(conversation.messages))
        ]
        results: list[CommandResult] = []
        for start in range(0, len(items), MAX_BATCH_MESSAGES):
            part = items[start : start + MAX_BATCH_MESSAGES]
            batch = self.pipeline.persist_messages(chat_id, self.user_id, part)
            results.extend(batch.results if batch.success else [batch] * len(part))
        return results

    def batch_item(self, conversation: Conversation, index: int) -> dict[str, Any]:
        turn = conversation.messages[index]
        message_id = f"{conversation.conversation_id}:{index}"
        role = "user" if turn.role == "user" else "assistant"
        item: dict[str, Any] = {"role": role, "content": turn.content, "message_id": message_id}
        if role == "user":
            item["metadata"] = {"source": conversation.source or "ingest"}
        else:
            item.update(model=conversation.model, metadata={"generation_source": "ingest"})
        return item

    def record_turn(self, conversation: Conversation, index: int) -> CommandResult:
        """One message at a time, replies streamed in chunks, as a live chat backend sends them."""
        chat_id, turn = conversation.conversation_id, conversation.messages[index]
        message_id = f"{chat_id}:{index}"
        if turn.role == "user":
            return self.pipeline.persist_user_message(
                chat_id, self.user_id, turn.content, message_id=message_id,
                metadata={"source": conversation.source or "ingest"},
            )  # fmt: skip
        opened = self.pipeline.open_stream(
            chat_id, self.user_id, message_id=message_id, model=conversation.model,
            metadata={"generation_source": "demo-stream"},
        )  # fmt: skip
        if opened.stream is None:
            return opened
        for start in range(0, len(turn.content), self.chunk_chars):
            opened.stream.add_chunk(turn.content[start : start + self.chunk_chars])
        return self.pipeline.complete_stream(opened.stream)
