"""The in-process context of a streamed reply: counts chunks and the time to the first one."""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter


class StreamContext:
    """Returned by open_stream(); feed it each chunk as it arrives (no event per chunk)."""

    def __init__(
        self,
        chat_id: str,
        user_id: str,
        message_id: str,
        model: str | None,
        clock: Callable[[], float] = perf_counter,
    ) -> None:
        self.chat_id = chat_id
        self.user_id = user_id
        self.message_id = message_id
        self.model = model
        self._clock = clock
        self._opened_at = clock()
        self._chunks: list[str] = []
        self.first_chunk_ms: float | None = None

    def ids(self) -> dict[str, str]:
        return {"chat_id": self.chat_id, "user_id": self.user_id, "message_id": self.message_id}

    def add_chunk(self, text: str) -> None:
        if self.first_chunk_ms is None:
            self.first_chunk_ms = self.elapsed_ms()
        self._chunks.append(text)

    @property
    def chunk_count(self) -> int:
        return len(self._chunks)

    @property
    def content(self) -> str:
        return "".join(self._chunks)

    def elapsed_ms(self) -> float:
        return (self._clock() - self._opened_at) * 1000.0
