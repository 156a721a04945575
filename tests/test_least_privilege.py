"""The README's least-privilege PostgreSQL role records and reads, and cannot rewrite history."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.infrastructure.bootstrap import bootstrap
from chatledger.infrastructure.settings import Settings
from chatledger.infrastructure.tokenizer.tiktoken_counter import TiktokenCounter
from tests.conftest import postgres_base_url

REWRITES = (
    "UPDATE chatledger_events SET state = state",
    "DELETE FROM chatledger_events",
    "TRUNCATE chatledger_events",
    "ALTER TABLE chatledger_events DISABLE TRIGGER USER",
)
GRANTS = [
    "GRANT USAGE, CREATE ON SCHEMA {schema} TO {role}",
    "GRANT SELECT, INSERT, UPDATE ON {schema}.chatledger_events TO {role}",
    "GRANT USAGE ON SEQUENCE {schema}.chatledger_events_notification_id_seq TO {role}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.chatledger_snapshots TO {role}",
    "GRANT SELECT, INSERT, UPDATE ON {schema}.content_keys TO {role}",
]


@pytest.fixture
def application_url(token_counter: TiktokenCounter) -> Iterator[str]:
    """A schema created by the owner, and the URL of a role with the README's grants."""
    base = postgres_base_url()
    schema, role = f"lp_{uuid.uuid4().hex[:8]}", f"app_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as owner:
        owner.execute(f"CREATE SCHEMA {schema}")
        bootstrap(Settings(database_url=f"{base}?schema={schema}"), token_counter=token_counter,
                  ).close()  # fmt: skip
        owner.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'app-secret'")
        for grant in GRANTS:
            owner.execute(grant.format(schema=schema, role=role))
    parts = urlsplit(base)
    yield f"postgresql://{role}:app-secret@{parts.hostname}:{parts.port}{parts.path}?schema={schema}"
    with psycopg.connect(base, autocommit=True) as owner:
        owner.execute(f"DROP SCHEMA {schema} CASCADE")
        owner.execute(f"DROP OWNED BY {role}")
        owner.execute(f"DROP ROLE {role}")


def test_the_application_role_records_but_cannot_rewrite(
    application_url: str, token_counter: TiktokenCounter
) -> None:
    settings = Settings(database_url=application_url, create_schema=False)
    pipeline: PersistencePipeline = bootstrap(settings, token_counter=token_counter)
    try:
        assert pipeline.start_chat("c", "alice").success
        assert pipeline.persist_user_message("c", "alice", "hello", message_id="m1").success
    finally:
        pipeline.close()
    schema = application_url.split("schema=")[1]
    connection = application_url.split("?")[0]
    with psycopg.connect(connection, options=f"-c search_path={schema}") as app:
        for rewrite in REWRITES:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(rewrite)
            app.rollback()
