"""A provider's stream, handed to the caller chunk by chunk as the SDK yields them (the same
objects), with each chunk noted in the ledger's stream context; when the stream ends it is
recorded completed, failed with the provider's error code, or abandoned (the caller stopped
reading: closed it, left its `with` block, or let it go)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from typing import Any

from chatledger.infrastructure.integrations.call_recording import (
    AsyncCallRecorder,
    CallRecorder,
    StreamEnding,
)


class RecordedStream:
    """Iterate it as the SDK's stream; every other attribute is the SDK stream's own."""

    def __init__(self, stream: Any, recorder: CallRecorder, ending: StreamEnding) -> None:
        self._stream = stream
        self._recorder = recorder
        self._ending = ending
        self._chunks = self._recorded(iter(stream))

    def _recorded(self, chunks: Iterator[Any]) -> Generator[Any, None, None]:
        outcome: BaseException | None = GeneratorExit()
        try:
            for chunk in chunks:
                self._ending.note(chunk, self._recorder.planner)
                yield chunk
            outcome = None
        except Exception as error:
            outcome = error
            raise
        finally:
            self._end(outcome)

    def _end(self, outcome: BaseException | None) -> None:
        self._recorder.run_stream_end(self._ending, outcome)

    def __iter__(self) -> RecordedStream:
        return self

    def __next__(self) -> Any:
        return next(self._chunks)

    def close(self) -> None:
        self._chunks.close()
        self._end(GeneratorExit())  # never iterated: the generator had nothing to close
        self._stream.close()

    def __enter__(self) -> RecordedStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        # At interpreter exit the ledger may be gone: the reaper closes the stream then.
        with contextlib.suppress(Exception):
            self._end(GeneratorExit())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class AsyncRecordedStream:
    """The same for the SDKs' async streams."""

    def __init__(self, stream: Any, recorder: AsyncCallRecorder, ending: StreamEnding) -> None:
        self._stream = stream
        self._recorder = recorder
        self._ending = ending
        self._chunks = self._recorded(stream.__aiter__())

    async def _recorded(self, chunks: AsyncIterator[Any]) -> AsyncGenerator[Any, None]:
        outcome: BaseException | None = GeneratorExit()
        try:
            async for chunk in chunks:
                self._ending.note(chunk, self._recorder.planner)
                yield chunk
            outcome = None
        except Exception as error:
            outcome = error
            raise
        finally:
            await self._end(outcome)

    async def _end(self, outcome: BaseException | None) -> None:
        await self._recorder.run_stream_end(self._ending, outcome)

    def __aiter__(self) -> AsyncRecordedStream:
        return self

    async def __anext__(self) -> Any:
        return await self._chunks.__anext__()

    async def close(self) -> None:
        await self._chunks.aclose()
        await self._end(GeneratorExit())
        await self._stream.close()

    async def __aenter__(self) -> AsyncRecordedStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
