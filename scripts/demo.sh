#!/usr/bin/env bash
# The main job: run the ChatLedger demo. Arguments are passed to `chatledger demo`.
set -euo pipefail

# shellcheck source=scripts/bootstrap.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/bootstrap.sh"
exec chatledger demo "$@"
