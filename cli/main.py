"""`sched`: the command line of the scheduler.

Commands that only read ledgers and write schedule files use `scheduler/` alone; the
ones that touch the database import `store/` when they run, so `sched solve` works on
a machine with nothing but the ledger.
"""

from __future__ import annotations

import dataclasses
import logging
import os
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
token_app = typer.Typer(help="Bearer tokens of the API: create, list, revoke.", no_args_is_help=True)
app.add_typer(token_app, name="token")
whatif_app = typer.Typer(help="Planners' what-if scenarios: fork, list, show, solve.", no_args_is_help=True)
app.add_typer(whatif_app, name="whatif")
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


RoundHoursOption = Annotated[
    float | None,
    typer.Option(
        "--round-hours",
        help="Cut the round to its first N hours: [start, start + N h) (planners' what-if; see `sched size`).",
    ),
]


def _within(scenario: Scenario, round_hours: float | None) -> Scenario:
    """The scenario with its round cut to `round_hours` (unchanged when None); exit 2 when not positive."""
    if round_hours is None:
        return scenario
    if not round_hours > 0:
        err_console.print(f"[red]--round-hours {round_hours}: must be positive[/red]")
        raise typer.Exit(2)
    return dataclasses.replace(scenario, settings=scenario.settings.within_hours(round_hours))


def _copy_ledger(scenario: Path, out: Path, but: str) -> None:
    """Copy the settings and every table's file but `but` from a scenario folder into `out`."""
    from scheduler.ledger.columns import TABLES
    from scheduler.ledger.sources import SETTINGS_FILE

    for name in (SETTINGS_FILE, *(f"{t.name}.csv" for t in TABLES if t.name != but)):
        if (scenario / name).exists():
            shutil.copy2(scenario / name, out / name)


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
    processes: Annotated[
        int, typer.Option(help="Processes for the points' staffing models; the schedule does not depend on it.")
    ] = os.cpu_count() or 1,
    accept_suggested_hours: AcceptOption = False,
    round_hours: RoundHoursOption = None,
) -> None:
    """Assign every resident a point and slot (or a door visit), staff the points, write the schedule files."""
    from scheduler.limits import SolverLimits
    from scheduler.plan import solve_schedule
    from scheduler.schedule import read_schedule, write_schedule

    if out.exists() and not out.is_dir():
        err_console.print(f"[red]--out {out}: exists and is not a folder[/red]")
        raise typer.Exit(2)
    if previous is not None and not previous.is_dir():
        err_console.print(f"[red]--previous {previous}: no such schedule folder[/red]")
        raise typer.Exit(2)
    read = _within(_read(scenario, accept_suggested_hours), round_hours)
    before = None
    if previous is not None:
        before, problems = read_schedule(read, previous)
        for problem in problems:
            err_console.print(f"[yellow]previous schedule:[/yellow] {problem}", highlight=False)
    with console.status("solving") as status:
        schedule = solve_schedule(
            read,
            previous=before,
            limits=SolverLimits(seed=seed, time_limit_s=time_limit, processes=max(1, processes)),
            progress=lambda step: status.update(f"solving: {step}"),
        )
    write_schedule(read, schedule, out)
    _print_kpis(schedule.kpis)
    console.print(f"schedule written to {out}")


def _print_kpis(kpis: dict[str, Any]) -> None:
    shown = {k: v for k, v in kpis.items() if not isinstance(v, dict | list)}
    shown["unserved"] = len(kpis.get("unserved", []))
    console.print(_table("KPIs", shown))
    if kpis.get("objective"):
        console.print(_table("objective terms", kpis["objective"]))
    staffing = kpis.get("staffing")
    if staffing:
        console.print(_table("staff: share of requirement covered", staffing["requirement_coverage"]))
        hours = {
            kind: f"{h['on_duty']}/{h['workers']} on duty, {h['min_hours']}–{h['max_hours']} h (mean {h['mean_hours']})"
            for kind, h in staffing["hours_by_kind"].items()
        }
        console.print(_table("staff hours by kind", hours))
    for entry in kpis.get("staff_shortfall", []):
        console.print(f"[yellow]{entry['text']}[/yellow]")


@app.command()
def check(
    scenario: ScenarioArg,
    schedule: Annotated[Path, typer.Argument(help="A schedule folder (assignments.csv, roster.csv, …).")],
    accept_suggested_hours: AcceptOption = False,
    round_hours: RoundHoursOption = None,
) -> None:
    """Check a schedule against every rule of the contract; exit 1 on any violation."""
    from scheduler.validate import check_folder

    report = check_folder(_within(_read(scenario, accept_suggested_hours), round_hours), schedule)
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


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(help="API processes. Without REDIS_URL each has its own in-process worker and rate limits.")
    ] = 1,
) -> None:
    """Run the HTTP API (embedded defaults: SQLite and an in-process worker; DATABASE_URL/REDIS_URL for more)."""
    import uvicorn

    from store.engine import make_engine, upgrade

    settings = _settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)  # once, before the processes start
    engine.dispose()
    broker = "Redis" if settings.redis_url else "in-process worker (in-memory broker)"
    console.print(f"API on http://{host}:{port}/api/v1/docs · {make_url_safe(settings.database_url)} · {broker}")
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,  # an access log would hold look-up traffic; errors are still logged
    )


def _token_engine() -> Any:
    from store.engine import make_engine, upgrade

    engine = make_engine(_settings().database_url)
    upgrade(engine)
    return engine


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="coordinator, planner or admin.")],
    name: Annotated[str, typer.Option(help="Who holds the token, e.g. the community's duty desk.")],
    community: Annotated[
        list[str] | None, typer.Option(help="A community the coordinator may see (repeat for a street's).")
    ] = None,
    street: Annotated[str | None, typer.Option(help="The street (街道) the communities make up.")] = None,
    days: Annotated[int | None, typer.Option(help="Expire after this many days (default: never).")] = None,
) -> None:
    """Create a token and print it once: only its hash is stored."""
    from datetime import UTC, datetime, timedelta

    from api.auth import TokenError, create_token

    expires = datetime.now(UTC) + timedelta(days=days) if days else None
    try:
        token, record = create_token(
            _token_engine(), name=name, role=role, communities=community, street=street, expires_at=expires
        )
    except TokenError as err:
        err_console.print(f"[red]{err}[/red]", highlight=False)
        raise typer.Exit(2) from None
    scope = ", ".join(record.communities) or "every community"
    err_console.print(f"token {record.id} ({record.role}, {scope}); shown once, keep it safe:", highlight=False)
    console.print(token, highlight=False, markup=False)


@token_app.command("list")
def token_list() -> None:
    """List the tokens (never the tokens themselves)."""
    from api.auth import list_tokens

    table = Table(title="tokens")
    for column in ("id", "name", "role", "communities", "street", "prefix", "created", "expires", "revoked"):
        table.add_column(column)
    for t in list_tokens(_token_engine()):
        table.add_row(
            str(t.id),
            t.name,
            t.role,
            ", ".join(t.communities),
            t.street or "",
            t.prefix + "…",
            f"{t.created_at:%Y-%m-%d %H:%M}",
            f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "",
            f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "",
        )
    console.print(table)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="The token's id (see `sched token list`).")]) -> None:
    """Revoke a token: it is refused from the next request on."""
    from api.auth import revoke_token

    if not revoke_token(_token_engine(), token_id):
        err_console.print(f"[red]no token {token_id}, or already revoked[/red]")
        raise typer.Exit(1)
    console.print(f"token {token_id} revoked")


@app.command()
def worker(
    processes: Annotated[int, typer.Option(help="Worker processes (one solve at a time each, per thread).")] = 1,
    threads: Annotated[int, typer.Option(help="Threads per process; solves are CPU-bound, so one is usual.")] = 1,
) -> None:
    """Run worker processes that solve and re-solve schedules from Redis (REDIS_URL, DATABASE_URL)."""
    settings = _settings()
    if not settings.redis_url:
        err_console.print("[red]REDIS_URL is not set: worker processes share work through Redis.[/red]")
        err_console.print("Without Redis, `sched serve` runs the embedded in-process worker instead.")
        raise typer.Exit(2)
    console.print(f"workers on {make_url_safe(settings.redis_url)} · {make_url_safe(settings.database_url)}")
    # An idle worker polls Redis this often (ms; dramatiq's default is 1000): a zone change waits less.
    os.environ.setdefault("dramatiq_worker_timeout", "100")
    # One message in hand per thread: the parts of a fanned-out solve go to whichever process is free.
    os.environ.setdefault("dramatiq_queue_prefetch", "1")
    # dramatiq reads both when it is first imported: only now.
    from dramatiq.cli import main as dramatiq_main
    from dramatiq.cli import make_argument_parser

    args = ["workers.actors", "--processes", str(processes), "--threads", str(threads)]
    raise typer.Exit(dramatiq_main(make_argument_parser().parse_args(args)))


@app.command()
def site(
    scenario: ScenarioArg,
    open_at_most: Annotated[
        int | None, typer.Option("--open-at-most", help="Open at most K points, with the least total walking.")
    ] = None,
    fewest: Annotated[
        bool, typer.Option("--fewest", help="The fewest points that serve everyone within max_walk_m and capacity.")
    ] = False,
    candidates: Annotated[
        int | None,
        typer.Option(help="Candidates: the ledger's points plus sites generated at buildings up to this many."),
    ] = None,
    site_desks: Annotated[int | None, typer.Option(help="Desks of a generated site (default: the median).")] = None,
    site_hours: Annotated[
        str | None, typer.Option(help="Opening hours of a generated site (default: the most common).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for points.csv (the chosen points, contract columns) and siting.json."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the solvers: same ledger and seed, same points.")] = 0,
    time_limit: Annotated[float, typer.Option(help="Seconds the whole selection may take.")] = 60.0,
    gap: Annotated[float, typer.Option(help="Stop once walking is proven within this fraction (e.g. 0.0001).")] = 0.0,
    accept_suggested_hours: AcceptOption = False,
) -> None:
    """Choose which sampling points to open: at most K of the candidates, or the fewest that reach everyone."""
    from scheduler.ledger.hours import HoursError, parse_hours
    from scheduler.limits import SolverLimits
    from scheduler.siting.candidates import CandidateError
    from scheduler.siting.output import write_figures, write_points
    from scheduler.siting.plan import site_scenario
    from scheduler.siting.solve import SitingInfeasible

    if fewest == (open_at_most is not None):
        err_console.print("[red]give exactly one of --open-at-most K and --fewest[/red]")
        raise typer.Exit(2)
    if out is not None and ((out.exists() and not out.is_dir()) or out.resolve() == scenario.resolve()):
        err_console.print(f"[red]--out {out}: must be a new or existing folder other than the scenario[/red]")
        raise typer.Exit(2)
    hours_read = None
    if site_hours is not None:
        try:
            hours_read = parse_hours(site_hours)
        except HoursError as err:
            err_console.print(f"[red]--site-hours {site_hours!r}: {err.reason}[/red]", highlight=False)
            raise typer.Exit(2) from None
    read = _read(scenario, accept_suggested_hours)
    try:
        with console.status("choosing points"):
            outcome = site_scenario(
                read,
                max_open=open_at_most,
                candidates=candidates,
                limits=SolverLimits(seed=seed, time_limit_s=time_limit, workers=2),
                relative_gap=gap,
                site_desks=site_desks,
                site_hours=hours_read,
            )
    except (CandidateError, SitingInfeasible) as err:
        err_console.print(f"[red]{err}[/red]", highlight=False)
        raise typer.Exit(1) from None

    chosen, persons = outcome.chosen_points(), outcome.persons_per_site()[outcome.chosen]
    table = Table(title=f"{len(chosen)} points chosen")
    for column in ("point_id", "name", "community", "desks", "residents", "new site"):
        table.add_column(column)
    shown = 30
    generated = outcome.siting.candidates.generated[outcome.chosen]
    for r in range(min(len(chosen), shown)):
        community = int(chosen.community[r])
        table.add_row(
            chosen.ids[r],
            chosen.names[r],
            read.communities[community] if community >= 0 else "(public)",
            str(chosen.desks[r]),
            f"{persons[r]:,}",
            "yes" if generated[r] else "",
        )
    console.print(table)
    if len(chosen) > shown:
        console.print(f"… and {len(chosen) - shown} more{' (see points.csv)' if out else ''}")
    figures = outcome.figures()
    shown_figures = {k: v for k, v in figures.items() if k not in ("stages", "simplifications")}
    console.print(_table("site selection", shown_figures))
    console.print(f"simplifications: {figures['simplifications']}", highlight=False)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        if scenario.is_dir():
            _copy_ledger(scenario, out, but="points")
        write_points(out / "points.csv", outcome)
        write_figures(out / "siting.json", outcome)
        console.print(f"chosen points written to {out / 'points.csv'}")


# --- what-if scenarios -----------------------------------------------------------------------------


def _db_engine() -> Any:
    from store.engine import make_engine, upgrade

    engine = make_engine(_settings().database_url)
    upgrade(engine)
    return engine


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[red]{message}[/red]", highlight=False)
    return typer.Exit(2)


def _fields(text: str, option: str) -> dict[str, str]:
    """`key=value,key=value` of an option."""
    pairs = [part.partition("=") for part in text.split(",") if part.strip()]
    if not pairs or any(not sep for _, sep, _ in pairs):
        raise _fail(f"{option} {text!r}: expected key=value,key=value")
    return {key.strip(): value.strip() for key, _, value in pairs}


def _cli_changes(
    changes_file: Path | None,
    close_point: list[str],
    open_point: list[str],
    desks: list[str],
    remove_worker: list[str],
    add_workers: list[str],
    zone: list[str],
    setting: list[str],
) -> list[Any]:
    """The changes the options describe, in this order: file, points, desks, workers, zones, settings."""
    import json

    from scheduler.whatif import (
        AddWorkers,
        ClosePoint,
        RemoveWorker,
        SetDesks,
        SetSetting,
        SetZone,
        WhatIfError,
        change_from_dict,
    )

    found: list[Any] = []
    try:
        if changes_file is not None:
            found += [change_from_dict(c) for c in json.loads(changes_file.read_text(encoding="utf-8"))]
        found += [ClosePoint(p) for p in close_point]
        for text in open_point:
            values: dict[str, Any] = _fields(text, "--open-point")
            missing = [k for k in ("point_id", "lat", "lon", "desks", "hours") if k not in values]
            if missing:
                raise ValueError(f"--open-point {text!r}: missing {', '.join(missing)}")
            for key, kind in (("lat", float), ("lon", float), ("desks", int)):
                values[key] = kind(values[key])
            values["accessible"] = values.get("accessible", "false").lower() in ("true", "1", "yes", "是")
            found.append(change_from_dict({"kind": "open_point", **values}))
        for text in desks:
            point, _, count = text.rpartition("=")
            found.append(SetDesks(point, int(count)))
        found += [RemoveWorker(w) for w in remove_worker]
        for text in add_workers:
            parts = text.split(":")
            if len(parts) < 3:
                raise ValueError(f"--add-workers {text!r}: expected KIND:SKILLS:COUNT[:COMMUNITY[:HOURS]]")
            skills = tuple(parts[1].replace("+", ";").split(";"))
            community = parts[3] if len(parts) > 3 and parts[3] else None
            found.append(AddWorkers(parts[0], skills, int(parts[2]), community, ":".join(parts[4:]) or "24小时"))
        for text in zone:
            parts = text.split(":", 2)
            if len(parts) < 3:
                raise ValueError(f"--zone {text!r}: expected LEVEL:SCOPE:TARGET")
            found.append(SetZone(*parts))
        for text in setting:
            key, _, value = text.partition("=")
            number = float(value)
            found.append(SetSetting(key.strip(), int(number) if number.is_integer() else number))
    except (WhatIfError, ValueError, KeyError, TypeError, OSError) as err:
        raise _fail(f"changes: {err}") from None
    return found


@whatif_app.command("fork")
def whatif_fork(
    scenario_id: Annotated[int, typer.Argument(help="The scenario to fork (imported, or a what-if).")],
    name: Annotated[str, typer.Option(help="The what-if's name.")],
    close_point: Annotated[list[str] | None, typer.Option(help="A point that does not open (repeat).")] = None,
    open_point: Annotated[
        list[str] | None,
        typer.Option(help="A new point: point_id=P9,lat=30.27,lon=120.15,desks=2,hours=07:00-19:00[,community_id=C1]."),
    ] = None,
    desks: Annotated[list[str] | None, typer.Option(help="POINT=N: a point's desks.")] = None,
    remove_worker: Annotated[list[str] | None, typer.Option(help="A worker or cadre off duty (repeat).")] = None,
    add_workers: Annotated[
        list[str] | None,
        typer.Option(help="KIND:SKILLS:COUNT[:COMMUNITY[:HOURS]], skills joined by + (medical:sample+doorstep:4)."),
    ] = None,
    zone: Annotated[list[str] | None, typer.Option(help="LEVEL:SCOPE:TARGET (normal lifts a zone).")] = None,
    days: Annotated[int | None, typer.Option(help="The round lasts this many days.")] = None,
    desk_rate: Annotated[int | None, typer.Option(help="People one staffed desk samples per hour.")] = None,
    round_hours: Annotated[
        float | None, typer.Option(help="The round must end this many hours after it opens.")
    ] = None,
    setting: Annotated[list[str] | None, typer.Option("--set", help="KEY=VALUE of scenario.toml (repeat).")] = None,
    changes: Annotated[Path | None, typer.Option(help="A JSON list of changes, as the API takes them.")] = None,
) -> None:
    """Fork a scenario into a what-if that records only its changes; print its id."""
    from scheduler.whatif import WhatIfError
    from store import whatif

    settings = [*(setting or [])]
    settings += [f"days={days}"] if days is not None else []
    settings += [f"desk_rate_per_hour={desk_rate}"] if desk_rate is not None else []
    settings += [f"round_hours={round_hours}"] if round_hours is not None else []
    found = _cli_changes(
        changes,
        close_point or [],
        open_point or [],
        desks or [],
        remove_worker or [],
        add_workers or [],
        zone or [],
        settings,
    )
    try:
        child = whatif.fork(_db_engine(), scenario_id, name, found)
    except (whatif.NoSuchScenario, WhatIfError) as err:
        raise _fail(str(err)) from None
    err_console.print(f"what-if scenario {child}: {name} ({len(found)} change(s) to scenario {scenario_id})")
    console.print(child)


@whatif_app.command("list")
def whatif_list() -> None:
    """List every scenario, imported and what-if, with its parent, changes and newest published KPIs."""
    from store import whatif

    table = Table(title="scenarios")
    for column in ("id", "name", "parent", "changes", "version", "covered", "walk m", "shortfall"):
        table.add_column(column)
    for e in whatif.list_entries(_db_engine()):
        kpis = e.kpis or {}
        table.add_row(
            str(e.id),
            e.name,
            "" if e.parent_id is None else str(e.parent_id),
            str(len(e.changes)),
            "" if e.version_id is None else str(e.version_id),
            f"{kpis['covered']}/{kpis['residents']}" if kpis else "",
            str(kpis.get("walk_m_total", "")),
            str(len(kpis.get("staff_shortfall", []))) if kpis else "",
        )
    console.print(table)


@whatif_app.command("show")
def whatif_show(scenario_id: Annotated[int, typer.Argument(help="A scenario id.")]) -> None:
    """Show a scenario's parent and changes."""
    import json

    from store import whatif

    try:
        entry = whatif.scenario_entry(_db_engine(), scenario_id)
    except whatif.NoSuchScenario as err:
        raise _fail(str(err)) from None
    parent = "imported ledger" if entry.parent_id is None else f"fork of scenario {entry.parent_id}"
    console.print(f"scenario {entry.id}: {entry.name} ({parent}); newest published version: {entry.version_id}")
    for number, change in enumerate(entry.changes, start=1):
        console.print(f"  {number}. {json.dumps(change, ensure_ascii=False)}", highlight=False, markup=False)


@whatif_app.command("solve")
def whatif_solve(
    scenario_id: Annotated[int, typer.Argument(help="A what-if scenario (or an imported one, e.g. its parent).")],
    seed: Annotated[int, typer.Option(help="Seed of the CP-SAT stages.")] = 0,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the workers.")] = 1800.0,
) -> None:
    """Solve a scenario in the workers (REDIS_URL), or in this process on embedded defaults; print its KPIs."""
    import time

    import sqlalchemy as sa
    from sqlmodel import SQLModel

    from store import whatif
    from store.versions import newest_published
    from workers.jobs import UnknownScenario, request_solve, start_embedded_worker, stop_embedded_worker

    engine = _db_engine()
    with engine.connect() as conn:
        cause = "what-if" if whatif.fork_of(conn, scenario_id) is not None else "initial solve"
    if cause != "what-if" and newest_published(engine, scenario_id) is not None:
        cause = "re-solve requested"
    embedded = not _settings().redis_url
    if embedded:
        start_embedded_worker(engine)
    job_table = SQLModel.metadata.tables["job"]
    try:
        job_id = request_solve(engine, scenario_id, cause=cause, seed=seed)
        deadline = time.monotonic() + wait
        with console.status(f"job {job_id}: solving scenario {scenario_id}"):
            while True:
                with engine.connect() as conn:
                    job = conn.execute(sa.select(job_table).where(job_table.c.id == job_id)).mappings().one()
                if job["status"] in ("done", "failed") or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
    except UnknownScenario as err:
        raise _fail(str(err)) from None
    finally:
        if embedded:
            stop_embedded_worker()
    if job["status"] != "done":
        raise _fail(f"job {job_id}: {job['status']} {job['error'] or ''}".strip())
    entry = whatif.scenario_entry(engine, scenario_id)
    _print_kpis(entry.kpis or {})
    console.print(f"scenario {scenario_id}: published version {job['version_id']} (job {job_id})")


@app.command()
def compare(
    a: Annotated[int, typer.Argument(help="Scenario A (e.g. the parent).")],
    b: Annotated[int, typer.Argument(help="Scenario B (e.g. a what-if).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
) -> None:
    """Two scenarios' newest published versions side by side: KPIs, differing points and residents."""
    import dataclasses
    import json

    from store import whatif

    try:
        found = whatif.compare(_db_engine(), a, b)
    except (whatif.NoSuchScenario, whatif.NotSolved) as err:
        raise _fail(str(err)) from None
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(found), ensure_ascii=False, indent=2))
        return
    table = Table(
        title=f"A: {found.a.name} (scenario {a}, v{found.a.version_id})  ·  "
        f"B: {found.b.name} (scenario {b}, v{found.b.version_id})"
    )
    for column, justify in (("KPI", "left"), ("A", "right"), ("B", "right"), ("B − A", "right"), ("better", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in found.kpis:
        delta = ("+" if row.delta and row.delta > 0 else "") + _figure(row.delta)
        table.add_row(row.label, _figure(row.a), _figure(row.b), delta, (row.better or "").upper())
    console.print(table)
    points = Table(title=f"{len(found.points)} point(s) differ")
    for column in ("point", "A", "B", "A residents", "B residents", "B − A"):
        points.add_column(column)
    for p in found.points:
        points.add_row(p.point_id, p.a_state, p.b_state, str(p.a_residents), str(p.b_residents), f"{p.delta:+d}")
    console.print(points)
    differ, moved = found.residents_differ, found.residents_moved
    console.print(f"{differ} resident(s) have a different visit; {moved} of them a different place")


def _figure(value: float | int | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:g}"


@app.command()
def size(
    scenario: ScenarioArg,
    hours: Annotated[float, typer.Option("--hours", help="Finish the round within this many hours of its start.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for the scenario with the called-in workers (workers.csv) and sizing.json."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the solvers: same ledger and seed, same answer.")] = 0,
    time_limit: Annotated[float, typer.Option(help="Seconds each CP-SAT stage may take.")] = 10.0,
    processes: Annotated[
        int, typer.Option(help="Processes for the points' staffing models; the answer does not depend on it.")
    ] = os.cpu_count() or 1,
    accept_suggested_hours: AcceptOption = False,
) -> None:
    """How many samplers and cadres to call in to finish the round within N hours, and what binds."""
    from scheduler.limits import SolverLimits
    from scheduler.sizing import size_staff
    from scheduler.sizing.output import write_figures, write_workers

    if out is not None and ((out.exists() and not out.is_dir()) or out.resolve() == scenario.resolve()):
        err_console.print(f"[red]--out {out}: must be a new or existing folder other than the scenario[/red]")
        raise typer.Exit(2)
    if out is not None and not scenario.is_dir():
        err_console.print("[red]--out needs a scenario folder (its other files are copied)[/red]")
        raise typer.Exit(2)
    read = _read(scenario, accept_suggested_hours)
    try:
        with console.status("sizing") as status:
            sizing = size_staff(
                read,
                hours,
                limits=SolverLimits(seed=seed, time_limit_s=time_limit, processes=max(1, processes)),
                progress=lambda step: status.update(f"sizing: {step}"),
            )
    except ValueError as err:
        err_console.print(f"[red]--hours {hours:g}: {err}[/red]", highlight=False)
        raise typer.Exit(2) from None
    figures = sizing.figures()
    table = Table(title=f"{sizing.added} workers to call in to finish within {hours:g} h")
    for column in ("role", "kind", "skills", "community", "available", "workers"):
        table.add_column(column, justify="right" if column == "workers" else "left")
    for call in figures["calls"]:
        table.add_row(*(str(call[c]) for c in ("role", "kind", "skills", "community", "available", "workers")))
    console.print(table)
    console.print(f"bottleneck: [bold]{sizing.bottleneck_kind}[/bold]")
    for line in sizing.bottleneck:
        console.print(f"  {line}", highlight=False, markup=False)
    check = figures["verification"]
    console.print(
        _table(
            f"verified: the schedule with them, round of {hours:g} h",
            {
                **{k: v for k, v in check.items() if k != "unserved"},
                **{f"unserved: {reason}": n for reason, n in check["unserved"].items()},
            },
        )
    )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        _copy_ledger(scenario, out, but="workers")
        write_workers(out / "workers.csv", sizing)
        write_figures(out / "sizing.json", sizing)
        console.print(
            f"scenario with the called-in workers written to {out}; solve it with "
            f"`sched solve {out} --round-hours {hours:g} --out …`",
            highlight=False,
        )
    if not sizing.report.ok:
        console.print(sizing.report.text(), highlight=False, markup=False)
        raise typer.Exit(1)


def make_url_safe(url: str) -> str:
    """The database URL with any password hidden, for printing."""
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
