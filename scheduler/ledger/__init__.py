"""Ledger import: scenario folders of CSV files or one `.xlsx` workbook, validated whole."""

from scheduler.ledger.errors import LedgerError, Problem
from scheduler.ledger.reader import ledger_digest, read_scenario

__all__ = ["LedgerError", "Problem", "ledger_digest", "read_scenario"]
