"""ChatLedger: an event-sourced, hash-chained audit log for LLM chat messages."""
