"""PostgreSQL over TLS: every libpq parameter of the URL reaches the driver, for the event store
and the read models alike. The test cluster (scripts/postgres.sh) serves TLS with a
certificate for 127.0.0.1 signed by a CA of its own (CHATLEDGER_TEST_POSTGRES_CA)."""

from __future__ import annotations

import datetime
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chatledger import Ledger, Settings, SettingsError
from chatledger.infrastructure.settings import DatabaseUnreachableError, eventsourcing_env
from chatledger.infrastructure.tokenizer.tiktoken_counter import TiktokenCounter
from tests.conftest import postgres_base_url, postgres_schema


@pytest.fixture
def schema_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


@pytest.fixture
def cluster_ca() -> str:
    ca = os.environ.get("CHATLEDGER_TEST_POSTGRES_CA")
    if not ca:
        if os.environ.get("CI"):
            pytest.fail("the test cluster serves no TLS: scripts/postgres.sh needs openssl")
        pytest.skip("the test cluster serves no TLS (CHATLEDGER_TEST_POSTGRES_CA is unset)")
    return ca


def another_ca(folder: Path) -> str:
    """A CA that did not sign the server's certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Not the cluster's CA")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    path = folder / "another-ca.crt"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return str(path)


def test_verify_full_connects_the_store_and_the_read_models_over_tls(
    schema_url: str, cluster_ca: str, token_counter: TiktokenCounter
) -> None:
    name = f"chatledger-tls-{uuid.uuid4().hex[:8]}"
    url = f"{schema_url}&sslmode=verify-full&sslrootcert={cluster_ca}&application_name={name}"
    with Ledger(url, token_counter=token_counter, catch_up_on_read=True) as ledger:
        assert ledger.start_chat("chat-1", "alice").success
        assert ledger.persist_user_message("chat-1", "alice", "over TLS 🔒").success
        assert ledger.stats("alice").stats is not None  # the read models' own pool
        with psycopg.connect(postgres_base_url()) as admin:
            sessions = admin.execute(
                "SELECT a.pid, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
                "WHERE a.application_name = %s", (name,)
            ).fetchall()  # fmt: skip
    assert len(sessions) >= 2 and all(ssl for _, ssl in sessions)


def test_a_certificate_of_another_ca_is_refused_with_the_reason(
    schema_url: str, cluster_ca: str, tmp_path: Path
) -> None:
    url = f"{schema_url}&sslmode=verify-full&sslrootcert={another_ca(tmp_path)}"
    settings = Settings(database_url=url, postgres_connect_timeout_s=2)
    with pytest.raises(DatabaseUnreachableError, match="certificate verify failed"):
        Ledger(settings=settings)


def test_a_parameter_libpq_does_not_know_is_refused_by_name() -> None:
    url = "postgresql://app:pw-123@db.example/chat?schema=s&sslmode=require&sslmod=require"
    with pytest.raises(SettingsError, match="'sslmod'") as refused:
        eventsourcing_env(Settings(database_url=url))
    assert "pw-123" not in str(refused.value)
