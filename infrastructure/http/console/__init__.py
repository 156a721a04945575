"""The auditor's console: server-rendered pages under /console over the read side."""
