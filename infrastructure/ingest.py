"""Ingest conversations through the pipeline: idempotent (message ids derive from the
conversation id and turn), user turns persisted, assistant turns persisted or streamed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from domain.messages import CommandResult
from domain.pipeline import PersistencePipeline
from infrastructure.conversations import Conversation, UnreadableLine


@dataclass
class IngestTotals:
    conversations: int = 0
    recorded: int = 0
    duplicates: int = 0
    failed: int = 0
    unreadable_lines: list[int] = field(default_factory=list)
    error_codes: Counter[str] = field(default_factory=Counter)
    tokens: int = 0

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

    def ingest(
        self, items: Iterable[Conversation | UnreadableLine], totals: IngestTotals
    ) -> IngestTotals:
        for item in items:
            if isinstance(item, UnreadableLine):
                totals.unreadable_lines.append(item.line_number)
            else:
                self.ingest_conversation(item, totals)
        return totals

    def ingest_conversation(self, conversation: Conversation, totals: IngestTotals) -> None:
        totals.conversations += 1
        chat_id = conversation.conversation_id
        started = self.pipeline.start_chat(
            chat_id, self.user_id, title=chat_id, model=conversation.model
        )
        if not started.success:
            totals.count(started)
            return
        for index, turn in enumerate(conversation.messages):
            message_id = f"{chat_id}:{index}"
            if turn.role == "user":
                result = self.pipeline.persist_user_message(
                    chat_id, self.user_id, turn.content, message_id=message_id,
                    metadata={"source": conversation.source or "ingest"},
                )  # fmt: skip
            elif self.stream_replies:
                result = self.stream_reply(chat_id, message_id, turn.content, conversation.model)
            else:
                result = self.pipeline.persist_assistant_message(
                    chat_id, self.user_id, turn.content, message_id=message_id,
                    model=conversation.model, metadata={"generation_source": "ingest"},
                )  # fmt: skip
            totals.count(result)

    def stream_reply(
        self, chat_id: str, message_id: str, content: str, model: str | None
    ) -> CommandResult:
        """Replay a recorded reply as a stream of chunks, as a live chat backend would send it."""
        opened = self.pipeline.open_stream(
            chat_id, self.user_id, message_id=message_id, model=model,
            metadata={"generation_source": "demo-stream"},
        )  # fmt: skip
        if opened.stream is None:
            return opened
        for start in range(0, len(content), self.chunk_chars):
            opened.stream.add_chunk(content[start : start + self.chunk_chars])
        return self.pipeline.complete_stream(opened.stream)
