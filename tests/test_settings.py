"""CHATLEDGER_DATABASE_URL becomes eventsourcing's environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatledger.infrastructure.settings import Settings, SettingsError, eventsourcing_env


def env_for(url: str) -> dict[str, str]:
    return eventsourcing_env(Settings(database_url=url))


def test_default_is_a_sqlite_file_in_the_working_directory() -> None:
    env = eventsourcing_env(Settings(_env_file=None))
    assert env["PERSISTENCE_MODULE"].endswith("AppendOnlySQLiteFactory")
    assert env["SQLITE_DBNAME"] == "chatledger.sqlite"


def test_absolute_sqlite_path(tmp_path: Path) -> None:
    assert env_for(f"sqlite:///{tmp_path}/x.db")["SQLITE_DBNAME"] == f"{tmp_path}/x.db"


def test_postgres_url_parts_are_decoded() -> None:
    env = env_for("postgresql://app%40corp:p%3Ass@db.example:6543/ledger?schema=audit")
    assert env["POSTGRES_USER"] == "app@corp"
    assert env["POSTGRES_PASSWORD"] == "p:ss"
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == (
        "db.example", "6543", "ledger",
    )  # fmt: skip
    assert env["POSTGRES_SCHEMA"] == "audit"
    assert "POSTGRES_ENABLE_DB_FUNCTIONS" not in env  # readers could skip events without the lock


@pytest.mark.parametrize(
    "url", ["mysql://x/y", "sqlite:///", "postgresql://host-only", "sqlite:////no/such/dir/x.db"]
)
def test_unusable_urls_are_refused_clearly(url: str) -> None:
    with pytest.raises(SettingsError):
        env_for(url)
