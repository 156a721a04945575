"""The `rng` fixture (tests/random_seed.py): a randomised test that fails says which seed
makes the same random choices again, and that seed does."""

from __future__ import annotations

import re

import pytest

DRAWING_TEST = """
def test_draws(rng):
    print("drew", [rng.randrange(10**9) for _ in range(3)])
    assert False
"""


def drawn_and_seed(result: pytest.RunResult) -> tuple[str, int]:
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    drawn = re.search(r"drew (\[[\d, ]+\])", output)
    seeds = re.findall(r"pytest --random-seed=(\d+) 'test_draws.py::test_draws'", output)
    assert drawn is not None and len(seeds) == 1, output
    return drawn.group(1), int(seeds[0])


def test_a_failing_randomised_test_reports_the_seed_that_repeats_its_choices(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_draws=DRAWING_TEST)
    first, seed = drawn_and_seed(pytester.runpytest("-p", "tests.random_seed"))
    again, same_seed = drawn_and_seed(
        pytester.runpytest("-p", "tests.random_seed", f"--random-seed={seed}")
    )
    assert (again, same_seed) == (first, seed)
    other, _ = drawn_and_seed(
        pytester.runpytest("-p", "tests.random_seed", f"--random-seed={seed + 1}")
    )
    assert other != first
