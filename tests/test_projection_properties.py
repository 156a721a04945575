"""For any workload, the incremental views, a rebuilt copy and a direct computation from the
events agree exactly, on every backend."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.domain.stream_context import StreamContext
from chatledger.projections.read_side import ReadSide
from tests.read_model_oracle import actual_dumps, expected_dumps

USERS = ["ann", "ben"]
texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
operations = st.one_of(
    st.tuples(st.just("user"), st.integers(0, 3), texts),
    st.tuples(st.just("assistant"), st.integers(0, 3), texts,
              st.sampled_from([None, "gpt-4o", "gpt-4"]), st.sampled_from([None, "TIMEOUT"]),
              st.one_of(st.none(), st.integers(0, 500))),
    st.tuples(st.just("open"), st.integers(0, 3), st.sampled_from([None, "gpt-4o"])),
    st.tuples(st.just("chunk"), st.integers(0, 3), texts),
    st.tuples(st.just("complete"), st.integers(0, 3)),
    st.tuples(st.just("fail"), st.integers(0, 3)),
    st.tuples(st.just("reap")),
    st.tuples(st.just("catch_up")),
    st.tuples(st.just("erase")),  # ben: his rows' content and personal metadata, mid-batch
)  # fmt: skip
run_ids = itertools.count()


class Workload:
    def __init__(self, pipeline: PersistencePipeline, read_side: ReadSide) -> None:
        self.pipeline, self.read_side = pipeline, read_side
        self.run = next(run_ids)
        self.streams: dict[int, StreamContext] = {}

    def chat(self, index: int) -> tuple[str, str]:
        chat_id, user_id = f"r{self.run}-c{index}", USERS[index % 2]
        self.pipeline.start_chat(chat_id, user_id, model="gpt-4o")
        return chat_id, user_id

    def apply(self, operation: tuple[object, ...]) -> None:
        kind, *args = operation
        if kind == "catch_up":
            self.read_side.catch_up()
        elif kind == "reap":
            self.pipeline.reap_abandoned_streams(older_than=timedelta(0))
        elif kind == "erase":
            self.pipeline.erase_user(USERS[1], reason="property test", requested_by="dpo")
        else:
            getattr(self, f"do_{kind}")(*args)

    def do_user(self, index: int, text: str) -> None:
        personal = {"said": text} if text else None
        self.pipeline.persist_user_message(
            *self.chat(index), text or "?", personal_metadata=personal
        )

    def do_assistant(
        self, index: int, text: str, model: str | None, error: str | None, tokens: int | None
    ) -> None:
        usage = None if tokens is None else {"input_tokens": tokens, "output_tokens": tokens // 2}
        self.pipeline.persist_assistant_message(
            *self.chat(index), text, model=model, error_code=error, usage=usage
        )

    def do_open(self, index: int, model: str | None) -> None:
        opened = self.pipeline.open_stream(*self.chat(index), model=model)
        if opened.stream is not None:
            self.streams[index] = opened.stream

    def do_chunk(self, index: int, text: str) -> None:
        if index in self.streams:
            self.streams[index].add_chunk(text)

    def do_complete(self, index: int) -> None:
        if index in self.streams:
            self.pipeline.complete_stream(self.streams.pop(index), usage={"output_tokens": 3})

    def do_fail(self, index: int) -> None:
        if index in self.streams:
            self.pipeline.fail_stream(
                self.streams.pop(index), "PROVIDER_ERROR", personal_metadata={"seen": index}
            )


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(operations, min_size=1, max_size=25))
def test_incremental_rebuilt_and_direct_read_models_agree(
    pipeline: PersistencePipeline,
    open_read_side: Callable[..., ReadSide],
    steps: list[tuple[object, ...]],
) -> None:
    read_side = open_read_side(pipeline, batch_size=4, catch_up_on_read=False)
    workload = Workload(pipeline, read_side)
    for step in steps:
        workload.apply(step)
    read_side.catch_up()
    expected = expected_dumps(pipeline)
    assert actual_dumps(read_side) == expected
    for name in read_side.runners:
        read_side.rebuild(name)
    assert actual_dumps(read_side) == expected
