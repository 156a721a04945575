"""Drop-ins that record model calls without persistence code: the OpenAI and Anthropic SDKs,
and OpenTelemetry GenAI spans in and out."""
