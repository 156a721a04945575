"""Fixtures: one behaviour, every backend. SQLite files under tmp_path; PostgreSQL schemas in the
throwaway cluster that scripts/test.sh starts (CHATLEDGER_TEST_POSTGRES_URL)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
import structlog

from chatledger.domain.pipeline import PersistencePipeline
from chatledger.domain.ports import ContentProtector
from chatledger.infrastructure.bench.provider_server import provider_server
from chatledger.infrastructure.bootstrap import bootstrap, build_read_side
from chatledger.infrastructure.ledger.ledger import Ledger
from chatledger.infrastructure.settings import Settings
from chatledger.infrastructure.tokenizer.tiktoken_counter import TiktokenCounter
from chatledger.projections.read_side import ReadSide
from tests.tampering import Tamper, tamperer

if TYPE_CHECKING:
    import httpx

    from tests.http_server import Api

pytest_plugins = ("tests.random_seed", "pytester")  # the `rng` fixture; pytester tests it
BACKENDS = ["sqlite", "postgres"]
PipelineFactory = Callable[..., PersistencePipeline]


def postgres_base_url() -> str:
    url = os.environ.get("CHATLEDGER_TEST_POSTGRES_URL")
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail("CHATLEDGER_TEST_POSTGRES_URL is not set: run the suite with scripts/test.sh")
    pytest.skip("PostgreSQL tests need CHATLEDGER_TEST_POSTGRES_URL (scripts/test.sh sets it)")


@pytest.fixture(scope="session")
def token_counter() -> TiktokenCounter:
    """Both shipped encodings loaded up front: no test sees a load (its time, its log line)."""
    counter = TiktokenCounter()
    for model in ("gpt-4o", "gpt-4"):
        counter.prepare(model)
    return counter


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/ledger.sqlite"
        return
    with postgres_schema() as url:
        yield url


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A throwaway schema of the test cluster: its URL (`?schema=` added)."""
    base = postgres_base_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{base}?schema={schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def open_pipeline(database_url: str, token_counter: TiktokenCounter) -> Iterator[PipelineFactory]:
    """Open pipelines on the test database (several, like separate processes would)."""
    opened: list[PersistencePipeline] = []

    def factory(
        protector: ContentProtector | None = None, **settings: object
    ) -> PersistencePipeline:
        config = Settings(database_url=database_url, **settings)  # type: ignore[arg-type]
        pipeline = bootstrap(config, token_counter=token_counter, protector=protector)
        opened.append(pipeline)
        return pipeline

    yield factory
    for pipeline in opened:
        pipeline.close()


@pytest.fixture
def pipeline(open_pipeline: PipelineFactory) -> PersistencePipeline:
    return open_pipeline()


@pytest.fixture
def chat(pipeline: PersistencePipeline) -> str:
    """A started chat owned by alice."""
    result = pipeline.start_chat("chat-1", "alice", title="Test chat", model="gpt-4o")
    assert result.success, result.error
    return "chat-1"


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    """CLI tests configure structlog as the CLI does; later tests start from its defaults."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def open_read_side(
    database_url: str, open_pipeline: PipelineFactory
) -> Iterator[Callable[..., ReadSide]]:
    """Read sides on the test database, each with its own pipeline (as separate processes)."""
    opened: list[ReadSide] = []

    def factory(pipeline: PersistencePipeline | None = None, **options: Any) -> ReadSide:
        settings = Settings(database_url=database_url)
        read_side = build_read_side(settings, pipeline or open_pipeline(), **options)
        opened.append(read_side)
        return read_side

    yield factory
    for read_side in opened:
        read_side.close()


@pytest.fixture
def read_side(open_read_side: Callable[..., ReadSide], pipeline: PersistencePipeline) -> ReadSide:
    return open_read_side(pipeline)


@pytest.fixture
def tamper(read_side: ReadSide, backend: str) -> Tamper:
    return tamperer(read_side, backend)


@pytest.fixture
def ledger(database_url: str, token_counter: TiktokenCounter) -> Iterator[Ledger]:
    """The public Ledger on the test database; reads catch up with what was just written."""
    with Ledger(database_url, token_counter=token_counter, catch_up_on_read=True) as opened:
        yield opened


ModelServer = tuple[str, list[dict[str, Any]]]


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    """A local server speaking OpenAI's and Anthropic's wire formats: its URL, its requests."""
    with provider_server() as running:
        yield running


def served_api(**settings: Any) -> Any:
    """A module's `api` fixture: the real HTTP server over a fresh database of each backend,
    with these settings (a module assigns it to `api` to replace the default one)."""

    @pytest.fixture(scope="module", params=BACKENDS)
    def api(
        request: pytest.FixtureRequest,
        tmp_path_factory: pytest.TempPathFactory,
        token_counter: TiktokenCounter,
    ) -> Iterator[Api]:
        from tests.http_server import served  # it imports this module's postgres_base_url

        with served(request, tmp_path_factory, token_counter, **settings) as running:
            yield running

    return api


api = served_api()


@pytest.fixture
def ann(api: Api) -> Iterator[httpx.Client]:
    """A client of the module's server with a user key of its own."""
    with api.client() as client:
        yield client
