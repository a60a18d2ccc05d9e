"""Where a ledger's tables come from: a folder of CSV files or one `.xlsx` workbook.

Both yield the same thing: per table, the header and a stream of (line, cells) rows
with every cell as text, so validation is written once.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Protocol

from scheduler.ledger.columns import TABLES, TableSpec

SETTINGS_FILE = "scenario.toml"
SETTINGS_SHEET = "scenario"
_SNIFF_CHUNK = 1 << 20


@dataclass
class Table:
    label: str  # how problems name the file: "residents.csv" or "round.xlsx[residents]"
    header: list[str]
    rows: Iterator[tuple[int, list[str]]]


@dataclass
class RawSettings:
    label: str
    values: dict[str, tuple[Any, int | None]]  # key → (value, line)
    error: str | None = None  # the file as a whole cannot be read


class LedgerSource(Protocol):
    """Anything the reader can read a ledger from: a folder, a workbook, or stored tables."""

    def settings(self) -> RawSettings | None: ...

    def table(self, spec: TableSpec) -> Table | None: ...


class UnreadableFile(ValueError):
    """A ledger file that cannot be read at all (encoding, a broken workbook)."""


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    with path.open("rb") as f:
        try:
            while chunk := f.read(_SNIFF_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def csv_encoding(path: Path) -> str:
    """`utf-8-sig` when the whole file decodes as UTF-8 (BOM or not), else `gb18030` when it does.

    Decoding incrementally keeps memory flat for a file of any size.
    """
    with path.open("rb") as f:
        utf16 = f.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # Excel's "Unicode text"
    if not utf16 and _decodes(path, "utf-8"):
        return "utf-8-sig"
    if not utf16 and _decodes(path, "gb18030"):
        return "gb18030"
    raise UnreadableFile(f"{path.name}: neither UTF-8 nor GB18030 (save it as CSV UTF-8 or as CSV from Chinese Excel)")


def cell_text(value: object) -> str:
    """A workbook cell as the text a CSV file would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        # Past 15 digits Excel has already dropped the last ones (an id number typed as a
        # number): keep its own display text so validation refuses it instead of a wrong id.
        return str(int(value)) if abs(value) < 1e15 else f"{value:.15G}"
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes" if value.second == 0 else "seconds")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value).strip()


class FolderSource:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def digest(self) -> str:
        h = hashlib.sha256()
        for name in [SETTINGS_FILE, *(f"{t.name}.csv" for t in TABLES)]:
            path = self.folder / name
            if path.exists():
                h.update(name.encode() + b"\0")
                with path.open("rb") as f:
                    while chunk := f.read(_SNIFF_CHUNK):
                        h.update(chunk)
        return h.hexdigest()

    def settings(self) -> RawSettings | None:
        path = self.folder / SETTINGS_FILE
        if not path.exists():
            return None
        try:
            data = tomllib.loads(path.read_text(csv_encoding(path)))
        except tomllib.TOMLDecodeError as err:
            return RawSettings(SETTINGS_FILE, {}, error=f"not valid TOML: {err}")
        return RawSettings(SETTINGS_FILE, {key: (value, None) for key, value in data.items()})

    def table(self, spec: TableSpec) -> Table | None:
        path = self.folder / f"{spec.name}.csv"
        if not path.exists():
            return None
        encoding = csv_encoding(path)
        label = path.name

        def rows() -> Iterator[tuple[int, list[str]]]:
            with path.open(encoding=encoding, newline="") as f:
                reader = csv.reader(f)
                next(reader, None)
                for cells in reader:
                    if any(cells):
                        yield reader.line_num, cells

        with path.open(encoding=encoding, newline="") as f:
            header = next(csv.reader(f), [])
        return Table(label, header, rows())


class WorkbookSource:
    def __init__(self, path: Path) -> None:
        from openpyxl import load_workbook

        self.path = path
        try:
            self.workbook = load_workbook(path, read_only=True, data_only=True)
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
            raise UnreadableFile(f"{path.name}: not a readable .xlsx workbook ({err})") from None

    def digest(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    def _sheet_rows(self, name: str) -> Iterator[tuple[int, list[str]]] | None:
        if name not in self.workbook.sheetnames:
            return None
        sheet = self.workbook[name]
        return (
            (line, [cell_text(v) for v in values])
            for line, values in enumerate(sheet.iter_rows(values_only=True), start=1)
        )

    def settings(self) -> RawSettings | None:
        if SETTINGS_SHEET not in self.workbook.sheetnames:
            return None
        sheet = self.workbook[SETTINGS_SHEET]
        values: dict[str, tuple[Any, int | None]] = {}
        for line, raw in enumerate(sheet.iter_rows(values_only=True), start=1):
            if line == 1 or not raw or raw[0] is None:
                continue
            values[str(raw[0]).strip()] = (raw[1] if len(raw) > 1 else None, line)
        return RawSettings(f"{self.path.name}[{SETTINGS_SHEET}]", values)

    def table(self, spec: TableSpec) -> Table | None:
        rows = self._sheet_rows(spec.name)
        if rows is None:
            return None
        first = next(rows, None)
        header = first[1] if first else []
        body = ((line, cells) for line, cells in rows if any(cells))
        return Table(f"{self.path.name}[{spec.name}]", header, body)


def open_source(path: Path) -> FolderSource | WorkbookSource:
    """A folder of CSV files, or one `.xlsx` workbook."""
    if path.is_dir():
        return FolderSource(path)
    if path.suffix.lower() == ".xlsx":
        return WorkbookSource(path)
    raise FileNotFoundError(f"{path}: not a scenario folder or an .xlsx workbook")
