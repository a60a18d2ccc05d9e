"""The API's settings: the system's `Settings` plus the knobs of the HTTP service."""

from __future__ import annotations

from functools import lru_cache

from store.settings import Settings


class ApiSettings(Settings):
    """Read from the same environment as `Settings` (and so refuses to start without HASH_SALT outside development)."""

    # Resident look-ups: attempts per client address and per person (id number or resident id) in a window.
    lookup_client_limit: int = 30
    lookup_client_window_s: int = 60
    lookup_person_limit: int = 5
    lookup_person_window_s: int = 600
    # Ledger uploads larger than this are refused (413) before they are read.
    max_upload_bytes: int = 512 * 1024 * 1024
    # Start dramatiq's in-process worker with the app when REDIS_URL is unset (the embedded default).
    embedded_worker: bool = True


@lru_cache
def get_api_settings() -> ApiSettings:
    """The process-wide API settings, read once."""
    return ApiSettings()
