#!/usr/bin/env bash
# shellcheck shell=bash
#
# Sourced by test.sh: the console's browser tests drive Debian's chromium (through the
# playwright package, never a browser it downloads). Installed with apt-get where missing.

_chatledger_chromium() {
    command -v chromium >/dev/null 2>&1 && return 0
    echo "chromium: installing Debian's chromium with apt-get" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || {
        echo "chromium: apt-get install chromium failed" >&2
        return 1
    }
}

_chatledger_chromium || return 1 2>/dev/null || exit 1
