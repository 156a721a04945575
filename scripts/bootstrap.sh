#!/usr/bin/env bash
# shellcheck shell=bash
#
# Sourced by the other scripts (`source scripts/bootstrap.sh`):
#   * sets ROOT to the repository root,
#   * makes sure a virtualenv exists at $ROOT/.venv,
#   * runs `pip install -e ".[dev]"` into it only when pyproject.toml changed since
#     the last successful install (sha256 stamp kept inside .venv),
#   * exports PATH (and VIRTUAL_ENV) with the venv first.
#
# It does not change the caller's shell options (set -e/-u/pipefail) and returns
# non-zero on failure instead of exiting.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT

_chatledger_sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"
    fi
}

_chatledger_bootstrap() {
    local venv="$ROOT/.venv"
    local stamp="$venv/.chatledger-pyproject.sha256"
    local want have

    if [ ! -f "$ROOT/pyproject.toml" ]; then
        echo "bootstrap: $ROOT/pyproject.toml not found" >&2
        return 1
    fi

    if [ ! -x "$venv/bin/python" ]; then
        echo "bootstrap: creating virtualenv at $venv" >&2
        python3 -m venv "$venv" || {
            echo "bootstrap: 'python3 -m venv $venv' failed" >&2
            return 1
        }
        rm -f "$stamp"
    fi

    want="$(_chatledger_sha256 "$ROOT/pyproject.toml")" || return 1
    have="$(cat "$stamp" 2>/dev/null || true)"
    if [ "$want" = "$have" ]; then
        return 0
    fi

    # Serialise concurrent installs (two scripts started at once) when flock exists.
    (
        if command -v flock >/dev/null 2>&1; then
            exec 9>"$venv/.chatledger-bootstrap.lock"
            flock 9
            # Someone else may have finished the install while we waited.
            if [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ]; then
                exit 0
            fi
        fi
        echo "bootstrap: installing chatledger[dev] into .venv (pyproject.toml changed)" >&2
        cd "$ROOT" &&
            PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install -q -e ".[dev]" &&
            printf '%s\n' "$want" >"$stamp"
    ) || {
        echo "bootstrap: pip install -e \".[dev]\" failed" >&2
        return 1
    }
}

_chatledger_bootstrap || return 1 2>/dev/null || exit 1
# The console's chart library, from the npm registry, when missing (scripts/console_assets.sh).
# shellcheck source=scripts/console_assets.sh
source "$ROOT/scripts/console_assets.sh" || return 1 2>/dev/null || exit 1

export VIRTUAL_ENV="$ROOT/.venv"
case ":$PATH:" in
    ":$ROOT/.venv/bin:"*) ;;
    *) export PATH="$ROOT/.venv/bin:$PATH" ;;
esac
unset PYTHONHOME
