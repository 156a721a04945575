"""The public face of the library: Ledger and AsyncLedger."""
