"""The HTTP API (FastAPI), thin over `scheduler/` and `store/`."""
