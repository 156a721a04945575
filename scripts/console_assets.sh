#!/usr/bin/env bash
# shellcheck shell=bash
#
# Sourced by bootstrap.sh (or run alone): puts the console's chart library, Chart.js, into the
# package's static folder when it is missing. It comes from the npm registry through npm itself
# (`npm pack` of one pinned version), is checked against npm's sha512 integrity pinned here, and
# is gitignored: the package ships it (package-data) and nothing is fetched at run time.
# Node.js and npm are installed with apt-get where they are missing.

CHARTJS_VERSION="4.5.1"
CHARTJS_INTEGRITY="sha512-GIjfiT9dbmHRiYi6Nl2yFCq7kkwdkp1W/lp2J99rX0yo9tgJGn3lKQATztIjb5tVtevcBtIdICNWqlq5+E8/Pw=="

_chatledger_console_assets() {
    local root target work tarball got
    root="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
    target="$root/infrastructure/http/console/static/vendor/chart.umd.min.js"
    [ -s "$target" ] && return 0
    if ! command -v npm >/dev/null 2>&1; then
        echo "console assets: installing npm with apt-get" >&2
        { apt-get update -qq && apt-get install -y -qq npm >/dev/null; } || return 1
    fi
    work="$(mktemp -d)"
    (
        cd "$work" && npm pack --silent "chart.js@$CHARTJS_VERSION" >/dev/null
    ) || { echo "console assets: npm pack chart.js@$CHARTJS_VERSION failed" >&2; rm -rf "$work"; return 1; }
    tarball="$work/chart.js-$CHARTJS_VERSION.tgz"
    got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
    if [ "$got" != "$CHARTJS_INTEGRITY" ]; then
        echo "console assets: chart.js $CHARTJS_VERSION integrity mismatch ($got)" >&2
        rm -rf "$work"
        return 1
    fi
    mkdir -p "$(dirname "$target")"
    tar -xzf "$tarball" -C "$work" package/dist/chart.umd.min.js package/LICENSE.md &&
        cp "$work/package/dist/chart.umd.min.js" "$target" &&
        cp "$work/package/LICENSE.md" "$(dirname "$target")/chart.js.LICENSE.md"
    local status=$?
    rm -rf "$work"
    return "$status"
}

_chatledger_console_assets || return 1 2>/dev/null || exit 1
