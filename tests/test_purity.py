"""`scheduler/` stays pure: no web framework, database or queue behind any of its modules."""

from __future__ import annotations

import subprocess
import sys

from tests.ledgers import REPO

FORBIDDEN = (
    *("fastapi", "starlette", "sqlmodel", "sqlalchemy", "alembic", "dramatiq", "redis", "psycopg"),
    *("store", "api", "workers"),
)

PROBE = """
import importlib, pkgutil, sys
import scheduler
for info in pkgutil.walk_packages(scheduler.__path__, "scheduler."):
    if info.name != "scheduler.__main__":
        importlib.import_module(info.name)
print(" ".join(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_scheduler_imports_no_service_package() -> None:
    """Importing every module of scheduler/ loads none of the web, database or queue packages."""
    loaded = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert "scheduler" in loaded
    assert [name for name in FORBIDDEN if name in loaded] == []
