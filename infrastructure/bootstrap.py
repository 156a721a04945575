"""Wiring: settings -> logging, tokenizer, observer -> the persistence pipeline."""

from __future__ import annotations

from domain.pipeline import PersistencePipeline
from domain.ports import TokenCounter
from infrastructure.settings import Settings, eventsourcing_env
from infrastructure.sqlite_store import ensure_wal_mode
from infrastructure.structured_logging import StructlogCommandObserver, configure_logging
from infrastructure.tokens import TiktokenCounter


def bootstrap(
    settings: Settings | None = None,
    *,
    token_counter: TokenCounter | None = None,
    configure_logs: bool = True,
) -> PersistencePipeline:
    """Build the pipeline on the configured database. Tests pass settings and share a counter
    (loading an encoding takes a second); nothing here reads os.environ but Settings()."""
    settings = settings or Settings()
    if configure_logs:
        configure_logging(settings.log_format, settings.log_level)
    env = eventsourcing_env(settings)
    if "SQLITE_DBNAME" in env:
        ensure_wal_mode(env["SQLITE_DBNAME"], settings.lock_timeout_s)
    pipeline = PersistencePipeline(
        env,
        token_counter=token_counter or TiktokenCounter(),
        observer=StructlogCommandObserver(),
    )
    return pipeline
