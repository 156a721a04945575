#!/usr/bin/env bash
# The whole test suite: lint, format check, type check, then pytest against a
# throwaway PostgreSQL cluster. Extra arguments go to pytest, e.g.
#   bash scripts/test.sh -x -k chain
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$HERE/bootstrap.sh"
cd "$ROOT"

section() {
    printf '\n==> %s\n' "$*"
}

section "ruff check"
ruff check .

section "ruff format --check"
ruff format --check .

section "mypy"
mypy

section "chromium"
# shellcheck source=scripts/chromium.sh
source "$HERE/chromium.sh"

section "postgres"
# shellcheck source=scripts/postgres.sh
source "$HERE/postgres.sh"
# Trap first: pg_stop is idempotent and also cleans up a half-started cluster.
trap pg_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
pg_start

section "pytest"
# One worker per CPU (pytest-xdist): every test makes its own database or schema, so they run
# side by side; CHATLEDGER_TEST_WORKERS=0 runs them in this process.
status=0
pytest -q -n "${CHATLEDGER_TEST_WORKERS:-auto}" "$@" || status=$?
exit "$status"
