"""How fast the seeded generator writes an area, and how much memory it takes.

    .venv/bin/python bench/bench_generate.py --size district [--seed 1] [--out /tmp/district]

Prints the size, the rows written per file, wall seconds, peak RSS of the process and the size on
disk. Without --out the scenario goes to a temporary folder that is deleted afterwards.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fixtures.generate import HEADERS, SIZES, generate  # noqa: E402


def rows_per_file(folder: Path) -> dict[str, int]:
    """Data rows (lines after the header) of each CSV file."""
    counts = {}
    for name in HEADERS:
        with open(folder / f"{name}.csv", "rb") as handle:
            counts[name] = sum(1 for _ in handle) - 1
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(SIZES), default="district")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="keep the scenario here (default: a temp folder)")
    args = parser.parse_args(argv)

    out = args.out if args.out is not None else Path(tempfile.mkdtemp(prefix=f"gen-{args.size}-"))
    last = [-1]

    def progress(done: int, total: int) -> None:
        tenth = done * 10 // total
        if tenth != last[0]:
            last[0] = tenth
            print(f"  {done}/{total} communities, {time.perf_counter() - began:.1f} s", file=sys.stderr)

    try:
        began = time.perf_counter()
        counts = generate(args.size, args.seed, out, progress=progress)
        seconds = time.perf_counter() - began
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
        disk = sum(path.stat().st_size for path in out.iterdir())
        rows = rows_per_file(out)
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)

    print(f"size {args.size}, seed {args.seed}")
    print("counts " + ", ".join(f"{key} {value:,}" for key, value in counts.items()))
    print("rows   " + ", ".join(f"{name}.csv {value:,}" for name, value in rows.items()))
    print(f"wall   {seconds:.1f} s")
    print(f"peak   {peak_mib:.0f} MiB RSS")
    print(f"disk   {disk / 2**20:,.0f} MiB")


if __name__ == "__main__":
    main()
