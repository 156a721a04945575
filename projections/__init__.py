"""Read side: projections of chat events into read models (built in the read-model issue)."""
