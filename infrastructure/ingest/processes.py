"""Bulk ingest in several processes, so that every core validates, tokenizes and hashes.

One process runs one interpreter lock: the pipeline's work per message is Python, so threads
of one process share a single core while they compute. Each worker process opens its own
pipeline on the same database and records every N-th line of the file (a conversation is one
line, so each chat stays in one process and keeps its order); the parent adds up what each
line came to, as the workers report it. Rerunning records nothing twice (message ids derive
from the conversation id and turn), so a worker that dies leaves a rerun to finish its share.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, cast

from chatledger.infrastructure.bootstrap import bootstrap
from chatledger.infrastructure.ingest.conversations import (
    Conversation,
    UnreadableLine,
    read_conversations,
)
from chatledger.infrastructure.ingest.ingestor import Ingestor, IngestTotals
from chatledger.infrastructure.observability.structured_logging import configure_logging
from chatledger.infrastructure.processes.forking import fork_is_safe
from chatledger.infrastructure.settings import Settings


@dataclass(frozen=True)
class IngestJob:
    settings: Settings
    source: Path | list[Conversation]
    user_id: str
    workers: int
    stream_replies: bool = False
    clients: int = 4
    start_method: str | None = None  # None: fork where that is safe, else spawn
    format_name: str = "auto"  # formats.FORMATS

    def share(self, worker: int) -> Iterator[Conversation | UnreadableLine]:
        """Every `workers`-th line, from line `worker` on (unreadable lines too: each line is
        reported by exactly one worker)."""
        source = self.source
        items = read_conversations(source, self.format_name) if isinstance(source, Path) else source
        return islice(items, worker, None, self.workers)


class WorkersFailedError(Exception):
    """Some workers did not finish their share; what the others recorded stays recorded."""

    def __init__(self, problems: list[str], database_unusable: bool) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
        self.database_unusable = database_unusable


def ingest_in_processes(job: IngestJob, totals: IngestTotals) -> Iterator[IngestTotals]:
    """Yields the running totals after each line any worker finished; raises
    WorkersFailedError at the end if a worker could not open the database, failed, or died."""
    context = _context(job.start_method)
    workers: list[BaseProcess] = []
    reports: dict[Connection, int] = {}  # the parent's end of each worker's pipe -> worker
    for index in range(job.workers):
        reader, writer = context.Pipe(duplex=False)
        worker = context.Process(target=_work, args=(job, index, writer), name=f"ingest-{index}")
        worker.start()
        writer.close()  # the worker holds the only writing end: its exit ends the pipe
        workers.append(worker)
        reports[reader] = index
    problems: dict[int, str] = {}
    unusable = False  # a worker could not open the database
    try:
        while reports:
            for ready in wait(list(reports)):
                reader = cast(Connection, ready)
                index = reports[reader]
                try:
                    # Sent before the worker's next step: a killed worker's lines all arrive.
                    kind, payload = reader.recv()
                except EOFError:
                    del reports[reader]
                    workers[index].join()
                    if workers[index].exitcode != 0 and index not in problems:
                        problems[index] = (
                            f"worker {index + 1} of {job.workers} stopped "
                            f"(exit code {workers[index].exitcode})"
                        )
                    continue
                if kind == "line":
                    totals.add(payload)
                    yield totals
                else:  # "problem" or "unusable"
                    problems[index] = payload
                    unusable = unusable or kind == "unusable"
    finally:
        for worker in workers:
            if worker.is_alive():  # the parent was interrupted: leave no orphans writing
                worker.terminate()
            worker.join()
    if problems:
        found = [problems[index] for index in sorted(problems)]
        raise WorkersFailedError(found, database_unusable=unusable)


def _work(job: IngestJob, index: int, reports: Connection) -> None:
    """A worker process: its own pipeline, its share of the lines, a report per line."""
    configure_logging(job.settings.log_format, job.settings.log_level)  # as the command did
    try:
        pipeline = bootstrap(job.settings)
    except Exception as error:  # the database cannot be reached or the schema made
        reports.send(("unusable", f"cannot open the database: {type(error).__name__}"))
        return
    try:
        ingestor = Ingestor(
            pipeline, user_id=job.user_id, stream_replies=job.stream_replies, clients=job.clients
        )
        for line in ingestor.lines(job.share(index)):
            reports.send(("line", line))
    except Exception as error:  # reported, not raised: the parent names the worker
        reports.send(("problem", f"worker {index + 1} failed: {type(error).__name__}"))
    finally:
        pipeline.close()
        reports.close()


def _context(start_method: str | None) -> Any:
    # fork starts a worker in milliseconds; spawn (a fresh interpreter, a second or so) where
    # forking is not safe: a bench or a server process runs threads of its own.
    return multiprocessing.get_context(start_method or ("fork" if fork_is_safe() else "spawn"))
