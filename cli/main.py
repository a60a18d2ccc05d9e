"""`sched`: the command line of the scheduler.

Commands that only read ledgers and write schedule files use `scheduler/` alone; the
ones that touch the database import `store/` when they run, so `sched solve` works on
a machine with nothing but the ledger.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from scheduler.domain import Scenario
from scheduler.ledger import LedgerError, ledger_digest, read_scenario

if TYPE_CHECKING:
    from store.settings import Settings

app = typer.Typer(
    help="Schedule a mass nucleic-acid testing round: ledgers in, schedules out.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="The database: migrations and imported scenarios.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console()
err_console = Console(stderr=True)

DEMO_SCENARIO = Path(__file__).resolve().parent.parent / "fixtures" / "examples" / "demo-community"
ScenarioArg = Annotated[Path, typer.Argument(help="A scenario folder of CSV files, or one .xlsx workbook.")]
AcceptOption = Annotated[
    bool,
    typer.Option(
        "--accept-suggested-hours",
        help="Read an hours text that would be refused by its likely reading, reported as a warning.",
    ),
]


def _settings() -> Settings:
    """The settings, or a clear message and exit 2 when they are invalid (e.g. no HASH_SALT in production)."""
    from pydantic import ValidationError

    from store.settings import get_settings

    try:
        return get_settings()
    except ValidationError as err:
        for error in err.errors():
            err_console.print(f"[red]settings:[/red] {error['msg']}", highlight=False)
        raise typer.Exit(2) from None


def _salt() -> bytes:
    return _settings().salt


def _read(path: Path, accept: bool = False) -> Scenario:
    """Read a ledger, or print every problem (file, line, column, value) and exit 2."""
    try:
        scenario = read_scenario(path, salt=_salt(), accept_suggestions=accept)
    except LedgerError as err:
        err_console.print(f"[red]{len(err.problems)} problem(s); nothing was imported:[/red]")
        for problem in err.problems:
            err_console.print(f"  {problem}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    except FileNotFoundError as err:
        err_console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from None
    for warning in scenario.warnings:
        err_console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    return scenario


def _table(title: str, rows: dict[str, Any]) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for key, value in rows.items():
        table.add_row(key, str(value))
    return table


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log per-stage figures.")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
    )


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="Folder to write the scenario into (created).")],
    size: Annotated[str, typer.Option(help="community, street, district or city.")] = "community",
    seed: Annotated[int, typer.Option(help="Same size and seed, same files.")] = 1,
) -> None:
    """Write a realistic generated scenario ledger (seeded, streamed to disk)."""
    from rich.progress import Progress

    from fixtures.generate import SIZES
    from fixtures.generate import generate as generate_scenario

    if size not in SIZES:
        err_console.print(f"[red]unknown size {size!r}; choose one of {', '.join(SIZES)}[/red]")
        raise typer.Exit(2)
    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task(f"generating {size}", total=None)
        counts = generate_scenario(
            size, seed, out, progress=lambda done, total: bar.update(task, completed=done, total=total)
        )
    console.print(_table(f"{size} (seed {seed}) → {out}", counts))


@app.command()
def summary(scenario: ScenarioArg, accept_suggested_hours: AcceptOption = False) -> None:
    """Read and validate a ledger without importing it, and print its counts."""
    read = _read(scenario, accept_suggested_hours)
    console.print(_table(read.settings.name, read.summary()))


@app.command("import")
def import_(scenario: ScenarioArg, accept_suggested_hours: AcceptOption = False) -> None:
    """Validate a ledger and load it into the database (the same ledger twice is a no-op)."""
    from store.engine import make_engine, upgrade
    from store.ledger_import import import_scenario

    read = _read(scenario, accept_suggested_hours)
    engine = make_engine(_settings().database_url)
    upgrade(engine)
    scenario_id, created = import_scenario(
        engine, read, ledger_digest(scenario, salt=_salt(), accept_suggestions=accept_suggested_hours)
    )
    verb = "imported" if created else "already imported, nothing changed"
    console.print(f"scenario {scenario_id}: {read.settings.name} ({verb})")
    console.print(_table(read.settings.name, read.summary()))


@app.command()
def hours(text: Annotated[str, typer.Argument(help="Opening hours as a person writes them.")]) -> None:
    """Show how an opening-hours text is read, or why it is refused."""
    from scheduler.ledger.hours import HoursError, format_hours, parse_hours

    try:
        read = parse_hours(text)
    except HoursError as err:
        console.print(f"[red]refused:[/red] {err.reason}", highlight=False)
        if err.suggestion:
            console.print(f"likely reading: {err.suggestion}", highlight=False)
        raise typer.Exit(1) from None
    console.print(format_hours(read), highlight=False)


@app.command()
def solve(
    scenario: ScenarioArg,
    out: Annotated[Path, typer.Option(help="Folder to write assignments.csv, roster.csv, routes.csv, kpis.json.")],
    previous: Annotated[
        Path | None, typer.Option(help="A published schedule folder to stay close to (fewest changed visits).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the CP-SAT stages: same ledger and seed, same schedule.")] = 0,
    time_limit: Annotated[float, typer.Option(help="Seconds each CP-SAT stage may take.")] = 10.0,
    accept_suggested_hours: AcceptOption = False,
) -> None:
    """Assign every resident a point and slot (or a door visit) and write the schedule files."""
    from scheduler.limits import SolverLimits
    from scheduler.plan import solve_schedule
    from scheduler.schedule import read_schedule, write_schedule

    if out.exists() and not out.is_dir():
        err_console.print(f"[red]--out {out}: exists and is not a folder[/red]")
        raise typer.Exit(2)
    if previous is not None and not previous.is_dir():
        err_console.print(f"[red]--previous {previous}: no such schedule folder[/red]")
        raise typer.Exit(2)
    read = _read(scenario, accept_suggested_hours)
    before = None
    if previous is not None:
        before, problems = read_schedule(read, previous)
        for problem in problems:
            err_console.print(f"[yellow]previous schedule:[/yellow] {problem}", highlight=False)
    with console.status("solving") as status:
        schedule = solve_schedule(
            read,
            previous=before,
            limits=SolverLimits(seed=seed, time_limit_s=time_limit),
            progress=lambda step: status.update(f"solving: {step}"),
        )
    write_schedule(read, schedule, out)
    _print_kpis(schedule.kpis)
    console.print(f"schedule written to {out}")


def _print_kpis(kpis: dict[str, Any]) -> None:
    shown = {k: v for k, v in kpis.items() if k not in ("unserved", "objective")}
    shown["unserved"] = len(kpis.get("unserved", []))
    console.print(_table("KPIs", shown))
    if kpis.get("objective"):
        console.print(_table("objective terms", kpis["objective"]))


@app.command()
def check(
    scenario: ScenarioArg,
    schedule: Annotated[Path, typer.Argument(help="A schedule folder (assignments.csv, roster.csv, …).")],
    accept_suggested_hours: AcceptOption = False,
) -> None:
    """Check a schedule against every rule of the contract; exit 1 on any violation."""
    from scheduler.validate import check_folder

    report = check_folder(_read(scenario, accept_suggested_hours), schedule)
    console.print(report.text(), highlight=False, markup=False)
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's schedule.")] = Path("out/demo"),
) -> None:
    """The main job on embedded defaults: import the demo community, solve it, check the schedule."""
    from scheduler.plan import solve_schedule
    from scheduler.schedule import write_schedule
    from scheduler.validate import validate
    from store.engine import make_engine, upgrade
    from store.ledger_import import import_scenario

    settings = _settings()
    read = _read(DEMO_SCENARIO)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    scenario_id, created = import_scenario(engine, read, ledger_digest(DEMO_SCENARIO, salt=settings.salt))
    console.print(f"scenario {scenario_id} {'imported' if created else 'already in'} {settings.database_url}")
    console.print(_table(read.settings.name, read.summary()))
    with console.status("solving"):
        schedule = solve_schedule(read)
    if out.exists():
        shutil.rmtree(out)
    write_schedule(read, schedule, out)
    _print_kpis(schedule.kpis)
    report = validate(read, schedule)
    console.print(report.text(), highlight=False, markup=False)
    console.print(f"schedule written to {out}")
    raise typer.Exit(0 if report.ok else 1)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database to the newest schema."""
    from store.engine import make_engine, upgrade

    url = _settings().database_url
    upgrade(make_engine(url))
    console.print(f"database at {make_url_safe(url)} is up to date")


@db_app.command("scenarios")
def db_scenarios() -> None:
    """List the scenarios imported into the database."""
    from store.engine import make_engine, upgrade
    from store.ledger_import import list_scenarios

    engine = make_engine(_settings().database_url)
    upgrade(engine)
    table = Table(title="scenarios")
    for column in ("id", "name", "start", "imported"):
        table.add_column(column)
    for row in list_scenarios(engine):
        table.add_row(str(row.id), row.name, str(row.start), str(row.created_at))
    console.print(table)


def make_url_safe(url: str) -> str:
    """The database URL with any password hidden, for printing."""
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
