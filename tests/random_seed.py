"""Seeded randomness for tests (a pytest plugin that tests/conftest.py loads): the `rng` fixture
is a `random.Random` with a seed of its own per test, or the one `--random-seed` gives; a test
that fails with it reports that seed, so that a rerun makes the same choices."""

from __future__ import annotations

import random
import secrets
from collections.abc import Generator

import pytest

SEED = "random_seed"  # the name of the test's user property that holds its seed


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--random-seed", type=int, default=None,
        help="seed of every test's `rng` (default: a fresh seed per test, shown if it fails)",
    )  # fmt: skip


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """The test's random choices (ids need none: they only have to differ)."""
    given: int | None = request.config.getoption("random_seed")
    seed = secrets.randbits(32) if given is None else given
    request.node.user_properties.append((SEED, seed))
    return random.Random(seed)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    seeds = [value for name, value in item.user_properties if name == SEED]
    if report.failed and seeds:
        again = f"pytest --random-seed={seeds[0]} '{item.nodeid}'"
        report.sections.append(("random seed", f"{again}  # makes the same random choices"))
    return report
