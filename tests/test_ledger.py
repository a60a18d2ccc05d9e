"""The ledger reader: formats, encodings, aliases, and every problem named precisely."""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from openpyxl import Workbook, load_workbook

from scheduler.domain import FLAG_BIT, NO_REF, SKILL_BIT, Scenario
from scheduler.ledger import LedgerError, ledger_digest, read_scenario
from scheduler.ledger.columns import CHINESE_ALIASES
from scheduler.ledger.errors import MAX_PROBLEMS_PER_FILE
from scheduler.privacy import hash_id_number
from tests.ledgers import EXAMPLES, REPO, TINY, write_ledger

SALT = b"test-salt"


def fingerprint(s: Scenario) -> dict[str, Any]:
    """Everything a reader produces, as plain values, to compare two readings."""
    out: dict[str, Any] = {"settings": s.settings, "communities": s.communities, "compounds": s.compounds}
    out["households"] = s.households
    for table in (s.buildings, s.residents, s.points, s.workers, s.zones):
        for name, value in vars(table).items():
            key = f"{type(table).__name__}.{name}"
            out[key] = value.tolist() if isinstance(value, np.ndarray) else value
    return out


def problems_of(folder: Path) -> list[str]:
    with pytest.raises(LedgerError) as caught:
        read_scenario(folder, salt=SALT)
    return [str(p) for p in caught.value.problems]


def test_tiny_ledger_reads_every_value(tmp_path: Path) -> None:
    """The hand-written ledger reads into the values a coordinator wrote."""
    s = read_scenario(write_ledger(tmp_path), salt=SALT)
    assert s.settings.name == "tiny" and s.settings.start == datetime(2022, 3, 14, 7, 0)
    assert s.settings.slot_minutes == 20 and s.settings.max_shift_hours == 3.5 and s.settings.days == 1
    assert s.communities == ["C1", "C2"] and s.compounds == ["K1", "K2", "K3"]
    assert s.compound_community.tolist() == [0, 0, 1]
    assert s.buildings.floors.tolist() == [6, 0, 18]
    assert s.households == ["H1", "H2", "H3"] and s.household_building.tolist() == [0, 1, 2]
    assert s.residents.flags[0] == FLAG_BIT["elderly_alone"] | FLAG_BIT["disabled"]
    assert s.residents.birth_year.tolist() == [1950, 0, 2020, 1990]
    assert s.points.names == ["东门广场", "", "二号点"]
    # An in-compound point belongs to its compound's community; a public point to none.
    assert s.points.community.tolist() == [NO_REF, 0, 1] and s.points.compound.tolist() == [NO_REF, 0, NO_REF]
    assert s.points.accessible.tolist() == [True, False, False]
    assert s.points.hours[2].windows == ((8 * 60, 12 * 60),)
    assert s.workers.skills[1] == SKILL_BIT["lead"] | SKILL_BIT["order"]
    assert s.workers.community.tolist() == [NO_REF, 0, 1]
    assert s.building_level().tolist() == [1, 3, 2]


def test_id_numbers_and_phones_are_only_hashed(tmp_path: Path) -> None:
    """No clear id number or phone survives reading; equal numbers hash equal."""
    s = read_scenario(write_ledger(tmp_path), salt=SALT)
    assert s.residents.id_hash[1] == hash_id_number("61010219800101123x", SALT)
    assert s.residents.id_hash[2] is None and s.residents.phone_hash[2] is None
    values = [v for v in (*s.residents.id_hash, *s.residents.phone_hash, *s.residents.phone_tail_hash) if v]
    assert len(values) == 9
    assert all("6101" not in v and "1381" not in v for v in values)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_encodings_read_the_same(tmp_path: Path, encoding: str) -> None:
    """A ledger in UTF-8 with BOM or GB18030 reads exactly as the plain UTF-8 one."""
    plain = read_scenario(write_ledger(tmp_path / "plain"), salt=SALT)
    other = read_scenario(write_ledger(tmp_path / encoding, encoding=encoding), salt=SALT)
    assert fingerprint(other) == fingerprint(plain)


def write_workbook(path: Path) -> Path:
    """TINY as one workbook, with numbers and the start as typed cells, as Excel keeps them."""
    book = Workbook()
    settings = book.active
    assert settings is not None
    settings.title = "scenario"
    settings.append(["key", "value"])
    for key, value in tomllib.loads(TINY["scenario.toml"]).items():
        settings.append([key, value])
    for name, text in TINY.items():
        if not name.endswith(".csv"):
            continue
        sheet = book.create_sheet(name.removesuffix(".csv"))
        lines = text.splitlines()
        header = lines[0].split(",")
        sheet.append(header)
        for line in lines[1:]:
            # Careful coordinators format id numbers and phones as text; the rest Excel types.
            sheet.append(
                [
                    cell if col in ("id_number", "phone") else _typed(cell)
                    for col, cell in zip(header, line.split(","), strict=True)
                ]
            )
    book.save(path)
    return path


def _typed(cell: str) -> Any:
    for kind in (int, float):
        try:
            return kind(cell)
        except ValueError:
            pass
    return cell or None


def test_workbook_reads_the_same_as_csv(tmp_path: Path) -> None:
    """The same ledger as one .xlsx workbook gives the same scenario as the CSV folder."""
    plain = read_scenario(write_ledger(tmp_path / "csv"), salt=SALT)
    book = read_scenario(write_workbook(tmp_path / "round.xlsx"), salt=SALT)
    assert fingerprint(book) == fingerprint(plain)


def test_id_number_typed_as_a_number_in_excel_is_refused(tmp_path: Path) -> None:
    """An id number Excel kept as a float (last digits lost) is refused, without echoing it."""
    path = write_workbook(tmp_path / "round.xlsx")
    book = load_workbook(path)
    book["residents"]["F2"] = 610102195001011234.0
    book.save(path)
    problems = problems_of(path)
    assert problems == [
        "round.xlsx[residents]:2: column id_number: value '(not shown)': not an id number (6-20 letters and digits); "
        "a number typed into Excel loses its last digits, so format the column as text"
    ]


def test_chinese_headers_read_the_same(tmp_path: Path) -> None:
    """Headers written with the documented Chinese aliases read as the English ones."""
    english_to_chinese: dict[str, str] = {}
    for alias, english in CHINESE_ALIASES.items():
        english_to_chinese.setdefault(english, alias)
    changes = {}
    for name, text in TINY.items():
        if name.endswith(".csv"):
            header, rest = text.split("\n", 1)
            changes[name] = ",".join(english_to_chinese[h] for h in header.split(",")) + "\n" + rest
    plain = read_scenario(write_ledger(tmp_path / "en"), salt=SALT)
    headed_in_chinese = read_scenario(write_ledger(tmp_path / "zh", changes), salt=SALT)
    assert fingerprint(headed_in_chinese) == fingerprint(plain)


def test_readme_documents_every_alias() -> None:
    """The README's alias table lists every accepted Chinese header."""
    readme = (REPO / "README.md").read_text("utf-8")
    missing = [f"`{chinese}`" for chinese in CHINESE_ALIASES if f"`{chinese}`" not in readme]
    assert missing == []


def _replace(name: str, old: str, new: str) -> dict[str, str]:
    assert old in TINY[name], old
    return {name: TINY[name].replace(old, new, 1)}


# (changes, the exact problem text expected among the problems)
ERROR_CASES: list[tuple[dict[str, str], str]] = [
    (
        _replace("residents.csv", "R4,H3,B3", "R4,H3,B9"),
        "residents.csv:5: column building_id: value 'B9': unknown building",
    ),
    (
        _replace("residents.csv", "R3,H2", "R1,H2"),
        "residents.csv:4: column resident_id: value 'R1': duplicate resident_id",
    ),
    (
        _replace("residents.csv", "R4,H3,B3", "R4,H1,B3"),
        "residents.csv:5: column building_id: value 'B3': household 'H1'",
    ),
    (_replace("residents.csv", "infant", "baby"), "residents.csv:4: column flags: value 'baby': unknown entry 'baby'"),
    (_replace("residents.csv", "1990,pregnant", "1790,pregnant"), "residents.csv:5: column birth_year: value '1790'"),
    (_replace("buildings.csv", "34.27", "north"), "buildings.csv:3: column lat: value 'north': not a number"),
    (_replace("buildings.csv", "108.96", "190.5"), "buildings.csv:4: column lon: value '190.5': outside"),
    (
        _replace("buildings.csv", "B2,C1,K2", "B2,C2,K1"),
        "buildings.csv:3: column community_id: value 'C2': compound 'K1'",
    ),
    (_replace("buildings.csv", "B3,C2", "B1,C2"), "buildings.csv:4: column building_id: value 'B1': duplicate"),
    (_replace("points.csv", "2,07:00-12:00", "-1,07:00-12:00"), "points.csv:2: column desks: value '-1': outside"),
    (
        _replace("points.csv", "24小时", "14:00－5:00"),
        "points.csv:3: column hours: value '14:00－5:00': cannot read the time",
    ),
    (
        _replace("points.csv", "P2,,C1,K1", "P2,,C2,K1"),
        "points.csv:3: column compound_id: value 'K1': compound does not",
    ),
    (_replace("points.csv", ",C2,,", ",C7,,"), "points.csv:4: column community_id: value 'C7': unknown community"),
    (_replace("points.csv", "true", "maybe"), "points.csv:2: column accessible: value 'maybe': not a yes/no value"),
    (_replace("workers.csv", "volunteer", "nurse"), "workers.csv:4: column kind: value 'nurse': unknown kind"),
    (
        _replace("workers.csv", "lead;order", "lead;cook"),
        "workers.csv:3: column skills: value 'lead;cook': unknown entry",
    ),
    (_replace("workers.csv", "register,C2", "register,C9"), "workers.csv:4: column community_id: value 'C9'"),
    (_replace("workers.csv", "08:00-12:00", "7:300-9:30"), "workers.csv:4: column available: value '7:300-9:30'"),
    (_replace("zones.csv", "sealed,building,B2", "sealed,building,B7"), "zones.csv:2: column target_id: value 'B7'"),
    (_replace("zones.csv", "precaution,", "orange,"), "zones.csv:3: column level: value 'orange': unknown level"),
    (_replace("zones.csv", "compound,K3", "street,K3"), "zones.csv:4: column scope: value 'street': unknown scope"),
    (_replace("points.csv", "desks", "tables"), "points.csv:1: column desks: required column 'desks' is missing"),
    ({"residents.csv": ""}, "residents.csv: file is missing"),
    (_replace("scenario.toml", 'name = "tiny"\n', ""), "scenario.toml: column name: required setting is missing"),
    (
        _replace("scenario.toml", "slot_minutes = 20", 'slot_minutes = "half"'),
        "scenario.toml: column slot_minutes: value 'half': not a whole number",
    ),
    (
        _replace("scenario.toml", "slot_minutes", "slot_minute"),
        "scenario.toml: column slot_minute: value '20': unknown setting",
    ),
    (
        _replace("scenario.toml", "2022-03-14T07:00:00", '"14/03/2022"'),
        "scenario.toml: column start: value '14/03/2022': not a local date-time",
    ),
]


@pytest.mark.parametrize(("changes", "expected"), ERROR_CASES, ids=[e[1][:40] for e in ERROR_CASES])
def test_each_error_names_file_line_column_value(tmp_path: Path, changes: dict[str, str], expected: str) -> None:
    """Each kind of bad input is refused with a problem naming its file, line, column and value."""
    problems = problems_of(write_ledger(tmp_path, changes))
    assert any(p.startswith(expected) for p in problems), problems


def test_every_problem_of_every_file_is_reported(tmp_path: Path) -> None:
    """All problems are reported at once: several in one file, and in several files."""
    residents = TINY["residents.csv"].replace("B1,1950", "B8,1950").replace("B3,1990", "B9,1990")
    points = TINY["points.csv"].replace("34.28,108.96,3", "34.28,108.96,x")
    problems = problems_of(write_ledger(tmp_path, {"residents.csv": residents, "points.csv": points}))
    assert [p.split(": ")[0] for p in problems] == ["residents.csv:2", "residents.csv:5", "points.csv:4"]


def test_a_broken_column_is_summarised_past_the_cap(tmp_path: Path) -> None:
    """A file with more problems than the cap lists the first ones and counts the rest."""
    rows = "".join(f"X{i},HX{i},B404\n" for i in range(MAX_PROBLEMS_PER_FILE + 25))
    problems = problems_of(write_ledger(tmp_path, {"residents.csv": "resident_id,household_id,building_id\n" + rows}))
    assert len(problems) == MAX_PROBLEMS_PER_FILE + 1
    assert problems[-1] == "residents.csv: 25 more problem(s) not listed"


def test_suggested_hours_are_accepted_only_when_asked(tmp_path: Path) -> None:
    """A refused hours text with a likely reading is read that way only on request, with a warning."""
    folder = write_ledger(tmp_path, _replace("points.csv", "24小时", "周一至周日;7：00-11:：00"))
    assert any("likely reading '07:00-11:00'" in p for p in problems_of(folder))
    s = read_scenario(folder, salt=SALT, accept_suggestions=True)
    assert s.points.hours[1].windows == ((7 * 60, 11 * 60),)
    assert len(s.warnings) == 1 and s.warnings[0].startswith("points.csv:3: column hours:")


def test_unknown_columns_are_warnings(tmp_path: Path) -> None:
    """A column outside the contract is ignored with a warning, not an error."""
    text = TINY["buildings.csv"].replace("floors\n", "floors,note\n")
    s = read_scenario(write_ledger(tmp_path, {"buildings.csv": text}), salt=SALT)
    assert s.warnings == ["buildings.csv: column 'note' is not part of the contract; ignored"]


def test_zones_and_workers_files_are_optional(tmp_path: Path) -> None:
    """Without zones.csv and workers.csv a ledger reads with no zones and no workers."""
    s = read_scenario(write_ledger(tmp_path, {"zones.csv": "", "workers.csv": ""}), salt=SALT)
    assert len(s.zones) == 0 and len(s.workers) == 0
    assert s.building_level().tolist() == [0, 0, 0]


def test_digest_follows_content(tmp_path: Path) -> None:
    """The same ledger read the same way has the same digest; a changed byte, salt or option changes it."""
    a = ledger_digest(write_ledger(tmp_path / "a"), salt=SALT)
    assert a == ledger_digest(write_ledger(tmp_path / "b"), salt=SALT)
    assert a != ledger_digest(write_ledger(tmp_path / "c", _replace("residents.csv", "1950", "1951")), salt=SALT)
    # Another salt stores other hashes, and accepted hours readings other hours: another import.
    assert a != ledger_digest(tmp_path / "a", salt=b"another salt")
    assert a != ledger_digest(tmp_path / "a", salt=SALT, accept_suggestions=True)


EXAMPLE_FOLDERS = sorted(p for p in EXAMPLES.iterdir() if p.is_dir())


def test_examples_are_checked_in() -> None:
    """Both checked-in examples exist: the demo community and the one on real Hangzhou points."""
    names = [p.name for p in EXAMPLE_FOLDERS]
    assert "demo-community" in names and any(n.startswith("hangzhou") for n in names)


@pytest.mark.parametrize("folder", EXAMPLE_FOLDERS, ids=[p.name for p in EXAMPLE_FOLDERS])
def test_every_example_reads_cleanly(folder: Path) -> None:
    """Every checked-in example reads with no problem and no warning."""
    s = read_scenario(folder, salt=SALT)
    assert s.warnings == []
    assert len(s.residents) > 1000 and len(s.points) > 0 and len(s.workers) > 0


def test_zone_scope_and_level_in_capitals_hit_their_target(tmp_path: Path) -> None:
    """`Sealed,Building,B1` seals B1 (not another building), as the lower-case row would."""
    s = read_scenario(write_ledger(tmp_path, {"zones.csv": "level,scope,target_id\nSealed,Building,B1\n"}), salt=SALT)
    assert s.building_level().tolist() == [3, 0, 0]


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('start = "2022-03-14T07:00+08:00"', "column start: value '2022-03-14T07:00+08:00': carries a UTC offset"),
        ("start = 2022-03-14T07:00:00+08:00", "column start: value '2022-03-14 07:00:00+08:00': carries a UTC offset"),
        ("max_shift_hours = 0.2", "column max_shift_hours: value '0.2': shorter than one slot of 20 minutes"),
    ],
)
def test_settings_that_cannot_work_are_refused(tmp_path: Path, toml: str, expected: str) -> None:
    """A start with a UTC offset, or a shift shorter than one slot, is refused with the key and value."""
    text = TINY["scenario.toml"].replace("start = 2022-03-14T07:00:00\n", "").replace("max_shift_hours = 3.5\n", "")
    if not toml.startswith("start"):
        text += "start = 2022-03-14T07:00:00\n"
    problems = problems_of(write_ledger(tmp_path, {"scenario.toml": text + toml + "\n"}))
    assert any(p.startswith("scenario.toml: " + expected) for p in problems), problems


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    """A UTF-16 CSV and a broken workbook are refused by name, not with a traceback."""
    folder = write_ledger(tmp_path / "utf16")
    (folder / "points.csv").write_bytes(TINY["points.csv"].encode("utf-16"))
    assert problems_of(folder) == [
        "points.csv: neither UTF-8 nor GB18030 (save it as CSV UTF-8 or as CSV from Chinese Excel)"
    ]
    book = tmp_path / "broken.xlsx"
    book.write_bytes(b"PK\x03\x04 not really a workbook")
    [problem] = problems_of(book)
    assert problem.startswith("broken.xlsx: not a readable .xlsx workbook")
