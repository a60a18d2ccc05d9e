"""The `sched` command line, run as a coordinator runs it: a real process on a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from tests.ledgers import EXAMPLES, REPO, TINY, write_ledger

COMMANDS = ("generate", "summary", "import", "hours", "solve", "check", "demo", "db", "db upgrade", "db scenarios")


def sched(*args: str, database_url: str | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["COLUMNS"] = "200"  # one problem a line, however narrow the terminal
    if database_url:
        env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "scheduler", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def scenario_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM scenario")).scalar_one())


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    """Every command answers --help with its usage."""
    result = sched(*command.split(), "--help")
    assert result.returncode == 0 and "Usage" in result.stdout


def test_bad_ledger_imports_nothing_and_names_each_problem(tmp_path: Path, db_engine: Engine) -> None:
    """A ledger with errors exits 2, lists each problem with file and line, and leaves the database as it was."""
    residents = TINY["residents.csv"].replace("R4,H3,B3", "R4,H3,B9").replace("infant", "baby")
    folder = write_ledger(tmp_path / "bad", {"residents.csv": residents})
    result = sched("import", str(folder), database_url=url_of(db_engine))
    assert result.returncode == 2
    assert "2 problem(s); nothing was imported" in result.stderr
    assert "residents.csv:4: column flags: value 'baby'" in result.stderr
    assert "residents.csv:5: column building_id: value 'B9': unknown building" in result.stderr
    assert scenario_count(db_engine) == 0


def test_import_twice_is_one_scenario(tmp_path: Path, db_engine: Engine) -> None:
    """Importing the same ledger twice reports the second as a no-op and keeps one scenario."""
    folder = write_ledger(tmp_path / "tiny")
    first = sched("import", str(folder), database_url=url_of(db_engine))
    second = sched("import", str(folder), database_url=url_of(db_engine))
    assert first.returncode == 0 and "imported" in first.stdout
    assert second.returncode == 0 and "already imported, nothing changed" in second.stdout
    assert scenario_count(db_engine) == 1


def test_solve_then_check_passes_and_a_tampered_schedule_fails(tmp_path: Path) -> None:
    """`sched solve` writes a schedule that `sched check` passes; a resident moved to a closed hour fails rule 5."""
    scenario = str(EXAMPLES / "demo-community")
    out = tmp_path / "schedule"
    solved = sched("solve", scenario, "--out", str(out))
    assert solved.returncode == 0, solved.stderr
    assert {p.name for p in out.iterdir()} == {"assignments.csv", "roster.csv", "routes.csv", "kpis.json"}
    assert sched("check", scenario, str(out)).returncode == 0
    lines = (out / "assignments.csv").read_text().splitlines()
    row = next(i for i, line in enumerate(lines) if ",point," in line)
    cells = lines[row].split(",")
    cells[4], cells[5] = "2022-04-12T03:00", "2022-04-12T03:30"
    lines[row] = ",".join(cells)
    (out / "assignments.csv").write_text("\n".join(lines) + "\n")
    checked = sched("check", scenario, str(out))
    assert checked.returncode == 1
    assert "rule 5 open hours: 1 violation(s)" in checked.stdout and cells[0] in checked.stdout


def test_hours_command_reads_and_refuses() -> None:
    """`sched hours` prints the reading of a text, or the refusal with its likely reading."""
    read = sched("hours", "周一至周日；上午8:30-11:30；下午1:30-4:30")
    assert read.returncode == 0 and read.stdout.strip() == "08:30-11:30;13:30-16:30"
    refused = sched("hours", "8:00－11:00 14:00－5:00")
    assert refused.returncode == 1 and "likely reading: 08:00-11:00;14:00-17:00" in refused.stdout


def test_demo_runs_on_embedded_defaults(tmp_path: Path) -> None:
    """`sched demo` with no settings imports into var/sched.db, solves, checks and writes out/demo."""
    result = sched("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / "sched.db").exists()
    assert (tmp_path / "out" / "demo" / "assignments.csv").exists()
    assert "rule 3 zones: kept" in result.stdout
    again = sched("demo", cwd=tmp_path)
    assert again.returncode == 0 and "already in" in again.stdout


def test_generate_writes_a_ledger_that_reads(tmp_path: Path) -> None:
    """`sched generate` writes a community ledger that `sched summary` reads cleanly."""
    out = tmp_path / "community"
    assert sched("generate", "--size", "community", "--seed", "5", "--out", str(out)).returncode == 0
    summary = sched("summary", str(out))
    assert summary.returncode == 0 and "residents" in summary.stdout and summary.stderr == ""


def test_check_refuses_a_schedule_with_a_file_missing(tmp_path: Path) -> None:
    """A schedule folder without routes.csv fails `sched check` on its format, even with rules kept."""
    scenario = str(EXAMPLES / "demo-community")
    out = tmp_path / "schedule"
    assert sched("solve", scenario, "--out", str(out)).returncode == 0
    (out / "routes.csv").unlink()
    checked = sched("check", scenario, str(out))
    assert checked.returncode == 1 and "routes.csv: missing" in checked.stdout


def test_bad_arguments_and_settings_are_clear_errors(tmp_path: Path) -> None:
    """A missing --previous, an --out that is a file, and production without HASH_SALT exit 2 with a message."""
    scenario = str(EXAMPLES / "demo-community")
    missing = sched("solve", scenario, "--out", str(tmp_path / "o"), "--previous", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no such schedule folder" in missing.stderr
    (tmp_path / "file").write_text("x")
    as_file = sched("solve", scenario, "--out", str(tmp_path / "file"))
    assert as_file.returncode == 2 and "exists and is not a folder" in as_file.stderr
    env_result = subprocess.run(
        [sys.executable, "-m", "scheduler", "summary", scenario],
        cwd=REPO,
        env={**os.environ, "ENVIRONMENT": "production", "HASH_SALT": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert env_result.returncode == 2 and "HASH_SALT must be set" in env_result.stderr
