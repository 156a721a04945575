"""The in-process context of a streamed reply: counts chunks and the time to the first one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from time import perf_counter

from chatledger.domain.boundary import validate
from chatledger.domain.messages import StreamFigures


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

    def duration_ms(self, opened_at: str) -> float:
        """How long the stream ran; measured here on this process's monotonic clock, so the
        recorded opening time (`opened_at`, ISO text) is not needed."""
        return self.elapsed_ms()

    def check(self) -> None:
        """Figures counted in this process need no validation."""


class MeasuredStream(StreamContext):
    """A stream whose chunks passed elsewhere (an HTTP client relayed them): it carries what
    that client measured, so that a server keeps no state between open and complete, and a
    restart in between loses nothing. `model` None: the model the stream was opened with."""

    def __init__(
        self,
        chat_id: str,
        user_id: str,
        message_id: str,
        *,
        chunk_count: int,
        first_chunk_ms: float | None = None,
        duration_ms: float | None = None,
        content: str = "",
    ) -> None:
        super().__init__(chat_id, user_id, message_id, None)
        self.first_chunk_ms = first_chunk_ms
        self.reported_chunks = chunk_count
        self.reported_duration_ms = duration_ms
        self.reported_content = content

    @property
    def chunk_count(self) -> int:
        return self.reported_chunks

    @property
    def content(self) -> str:
        return self.reported_content

    def duration_ms(self, opened_at: str) -> float:
        """The client's figure, else the time since the opening was recorded (the server's
        clock: it includes the network, but it cannot be wrong by more than that)."""
        if self.reported_duration_ms is not None:
            return self.reported_duration_ms
        since = datetime.now(UTC) - datetime.fromisoformat(opened_at)
        return max(0.0, since.total_seconds() * 1000.0)

    def check(self) -> None:
        """Figures from outside are input: VALIDATION_ERROR unless they are consistent."""
        validate(
            StreamFigures, chunk_count=self.reported_chunks, first_chunk_ms=self.first_chunk_ms,
            duration_ms=self.reported_duration_ms,
        )  # fmt: skip
