"""How the hours parser reads the 844 real opening-hours texts of Hangzhou's sampling points.

    .venv/bin/python bench/hours_hangzhou.py [path/to/hangzhou_2022-05-03.geojson]

Prints how many texts read strictly, how many only through a suggestion, how many are refused
outright, and the refusal reasons grouped (quoted text and times blanked out) with examples.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scheduler.ledger.hours import HoursError, parse_hours  # noqa: E402

DEFAULT_DATA = Path("/work/shared/data/hangzhou-points/hangzhou_2022-05-03.geojson")


def reason_kind(problem: str) -> str:
    """A refusal reason with its quoted parts and times blanked, to group alike reasons."""
    return re.sub(r"\d{2}:\d{2}", "HH:MM", re.sub(r'"[^"]*"', "«…»", problem))


def main(path: Path) -> None:
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    texts = [feature["properties"].get("工作时间") or "" for feature in features]
    outcome: Counter[str] = Counter()
    kinds: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], dict[str, str | None]] = defaultdict(dict)
    began = time.perf_counter()
    for text in texts:
        try:
            parse_hours(text)
        except HoursError as error:
            verdict = "suggestion" if error.suggestion is not None else "refused"
            outcome[verdict] += 1
            for problem in error.reason.split("; "):
                key = (verdict, reason_kind(problem))
                kinds[key] += 1
                examples[key].setdefault(text, error.suggestion)
        else:
            outcome["strict"] += 1
    elapsed = time.perf_counter() - began

    print(f"{len(texts)} points, {len(set(texts))} distinct texts, parsed in {elapsed * 1000:.1f} ms")
    print(f"  read strictly:          {outcome['strict']:4d}")
    print(f"  only with a suggestion: {outcome['suggestion']:4d}")
    print(f"  refused outright:       {outcome['refused']:4d}")
    print()
    print("refusal reasons (a text may have several):")
    for (verdict, kind), count in sorted(kinds.items(), key=lambda item: (item[0][0], -item[1])):
        print(f"  {count:4d}  [{verdict}] {kind}")
        for text, suggestion in list(examples[(verdict, kind)].items())[:3]:
            print(f"          {text!r}  ->  {suggestion!r}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("geojson", type=Path, nargs="?", default=DEFAULT_DATA, help="the Hangzhou points file")
    main(parser.parse_args().geojson)
