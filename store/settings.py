"""One `Settings` object for the whole system, read from the environment (and an optional `.env`)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Used only when `environment == "development"` and no HASH_SALT is given: hashes made with it
# protect nothing, so any other environment refuses to start without a real salt.
DEVELOPMENT_SALT = "development-only-salt-do-not-use-in-production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Literal["development", "staging", "production"] = "development"
    # Relative SQLite paths are taken from the working directory; `make_engine` creates the folder.
    database_url: str = "sqlite:///var/sched.db"
    # None: dramatiq's in-memory broker with an in-process worker.
    redis_url: str | None = None
    # Workers (workers/): each CP-SAT stage of a solve stops at solver_time_limit_s; a whole solve
    # (many stages) is cut at solve_time_limit_s, well above it, and then fails its job.
    solver_time_limit_s: float = 10.0
    solve_time_limit_s: float = 1800.0
    # A worker silent this long is taken for dead and its messages are redelivered; the check
    # runs on about redis_maintenance_chance of every million broker commands.
    worker_heartbeat_timeout_ms: int = 60_000
    redis_maintenance_chance: int = 10_000
    # A solve of at least fanout_min_residents residents fans out into parts of about
    # fanout_part_residents each, solved by any worker processes and joined (workers/fanout.py).
    fanout_min_residents: int = 300_000
    fanout_part_residents: int = 250_000
    redis_namespace: str = "dramatiq"  # prefix of the broker's keys: separate deployments on one Redis
    # Key of the hashes of id numbers and phones (see `scheduler.privacy`).
    hash_salt: SecretStr | None = None

    @model_validator(mode="after")
    def _salt_required_outside_development(self) -> Settings:
        if self.hash_salt is None or not self.hash_salt.get_secret_value():
            if self.environment != "development":
                raise ValueError(f"HASH_SALT must be set when ENVIRONMENT is {self.environment!r}")
            self.hash_salt = SecretStr(DEVELOPMENT_SALT)
        return self

    @model_validator(mode="after")
    def _solver_stops_before_the_solve(self) -> Settings:
        if not 0 < self.solver_time_limit_s < self.solve_time_limit_s:
            raise ValueError("SOLVER_TIME_LIMIT_S must be positive and below SOLVE_TIME_LIMIT_S")
        return self

    @property
    def salt(self) -> bytes:
        """The hash key as bytes, for `scheduler.privacy` and the ledger reader."""
        assert self.hash_salt is not None  # set by the validator
        return self.hash_salt.get_secret_value().encode()


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
