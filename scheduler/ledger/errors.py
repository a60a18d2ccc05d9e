"""Problems found in a ledger, each naming its file, line, column and value."""

from __future__ import annotations

from dataclasses import dataclass

# One file with a broken column can yield a problem per row; past this many per file
# the rest are counted, not listed, so a million-row mistake stays readable.
MAX_PROBLEMS_PER_FILE = 1000


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None  # 1-based line (CSV) or row (sheet); None for the file as a whole
    column: str | None
    value: str | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [where]
        if self.column is not None:
            parts.append(f"column {self.column}")
        if self.value is not None:
            parts.append(f"value {self.value!r}")
        return ": ".join(parts) + f": {self.message}"


class LedgerError(Exception):
    """A ledger that cannot be imported; `problems` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the ledger; first: {problems[0]}")


class ProblemLog:
    """Collects the problems of one file, keeping the first MAX_PROBLEMS_PER_FILE."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.dropped = 0

    def add(self, line: int | None, column: str | None, value: str | None, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS_PER_FILE:
            self.problems.append(Problem(self.file, line, column, value, message))
        else:
            self.dropped += 1

    def all(self) -> list[Problem]:
        if not self.dropped:
            return self.problems
        more = Problem(self.file, None, None, None, f"{self.dropped} more problem(s) not listed")
        return [*self.problems, more]
