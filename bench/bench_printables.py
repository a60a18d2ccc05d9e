"""Benchmark the printables' writers (`scheduler.printables`) at district sizes, without a database.

    PYTHONPATH=. .venv/bin/python bench/bench_printables.py [--residents 3000] [--households 400000]

1. A point's workbook and print page for a point of N residents (a big point serves 2,000–3,000 a day;
   the guideline's upper end), with 40 duties.
2. The SMS notice file of a district's H households (≈1,000,000 residents in ≈400,000 households).

Rows are synthetic (ids shaped like the generator's); prints seconds and sizes.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from scheduler import printables

START = datetime(2022, 4, 12, 7, 0)
T = TypeVar("T")


def point_sheet(residents: int) -> printables.PointSheet:
    slot = timedelta(minutes=30)
    listed = [
        printables.ListedResident(
            START + (i * 28 // residents) * slot,
            START + (i * 28 // residents + 1) * slot,
            f"H{i // 3:08d}",
            f"R{i:08d}",
            f"C0001-K{i // 900:02d}-B{i // 60:03d}",
            f"C0001-K{i // 900:02d}",
        )
        for i in range(residents)
    ]
    duties = [
        printables.Duty(f"W{i:06d}", "张三", "medical", "sample", START, START + timedelta(hours=4)) for i in range(40)
    ]
    return printables.PointSheet("bench", 1, "P00001", "锦园社区采样点", "07:00-21:00", duties, listed)


def notices(households: int) -> list[printables.Notice]:
    return [
        printables.Notice(
            f"H{i:08d}",
            f"C{i // 4000:04d}-K01-B{i // 40:05d}",
            f"C{i // 4000:04d}-K01",
            "point",
            "锦园社区采样点",
            START + timedelta(minutes=30 * (i % 28)),
            START + timedelta(minutes=30 * (i % 28 + 1)),
        )
        for i in range(households)
    ]


def timed(what: str, run: Callable[[], T]) -> T:
    began = time.perf_counter()
    result = run()
    print(f"{what}: {time.perf_counter() - began:.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=3000, help="residents of the point")
    parser.add_argument("--households", type=int, default=400_000, help="households of the notice file")
    args = parser.parse_args()
    sheet = point_sheet(args.residents)
    book = timed(f"point workbook, {args.residents} residents", lambda: printables.point_xlsx(sheet))
    page = timed(f"point print page, {args.residents} residents", lambda: printables.point_html(sheet))
    print(f"  sizes: workbook {len(book) / 1e3:.0f} kB, page {len(page) / 1e3:.0f} kB")
    rows = notices(args.households)
    out = io.StringIO()
    timed(f"notice file, {args.households} households", lambda: printables.write_notices(rows, out))
    print(f"  size: {len(out.getvalue().encode()) / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
