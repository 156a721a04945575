"""`python -m chatledger`: the command line, as the `chatledger` script runs it."""

from chatledger.infrastructure.cli.main import main

main()
