"""An uploaded ledger onto disk, where the ledger reader takes it: an `.xlsx` workbook as it is, or a
zip of the CSV files (and scenario.toml) unpacked into a folder.

Only the contract's file names are taken out of a zip (in its root or in one folder), each at most
the upload limit once unpacked, so a crafted archive can neither write elsewhere nor fill the disk.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from api.problems import ProblemError
from scheduler.ledger.columns import TABLES
from scheduler.ledger.sources import SETTINGS_FILE

LEDGER_FILES = frozenset({SETTINGS_FILE, *(f"{t.name}.csv" for t in TABLES)})
CHUNK = 1 << 20


def save_upload(stream: BinaryIO, folder: Path, limit: int) -> Path:
    """Copy the upload into `folder/upload`, refusing (413) more than `limit` bytes."""
    target = folder / "upload"
    size = 0
    with target.open("wb") as out:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise ProblemError(413, f"the upload is larger than {limit} bytes", kind="too-large")
            out.write(chunk)
    return target


def ledger_path(upload: Path, folder: Path, limit: int) -> Path:
    """A path `read_scenario` takes: the workbook (renamed .xlsx) or the folder the zip unpacked into."""
    if not zipfile.is_zipfile(upload):
        raise ProblemError(
            415, "upload an .xlsx workbook or a .zip of the ledger's CSV files", kind="unsupported-ledger"
        )
    try:
        return _unpack(upload, folder, limit)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError) as err:
        # Damaged, encrypted or using a compression zipfile lacks.
        raise ProblemError(422, f"the zip cannot be read: {err}", kind="unsupported-ledger") from None


def _unpack(upload: Path, folder: Path, limit: int) -> Path:
    with zipfile.ZipFile(upload) as archive:
        names = archive.namelist()
        if "xl/workbook.xml" in names:
            workbook = folder / "ledger.xlsx"
            upload.rename(workbook)
            return workbook
        ledger = folder / "ledger"
        ledger.mkdir()
        for info in archive.infolist():
            name = PurePosixPath(info.filename).name
            if info.is_dir() or name not in LEDGER_FILES or len(PurePosixPath(info.filename).parts) > 2:
                continue
            if info.file_size > limit or (ledger / name).exists():
                raise ProblemError(
                    422, f"{info.filename}: too large or given twice in the zip", kind="unsupported-ledger"
                )
            with archive.open(info) as source, (ledger / name).open("wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
    if not any(ledger.iterdir()):
        raise ProblemError(
            422,
            f"the zip holds none of the ledger's files ({', '.join(sorted(LEDGER_FILES))})",
            kind="unsupported-ledger",
        )
    return ledger
