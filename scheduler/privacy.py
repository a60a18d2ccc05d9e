"""Keyed hashes for id numbers and phones: the clear values are never stored or logged."""

from __future__ import annotations

import hashlib
import re

_NOT_DIGIT_OR_X = re.compile(r"[^0-9Xx]")
_NOT_DIGIT = re.compile(r"[^0-9]")


def _keyed(value: str, salt: bytes) -> str:
    return hashlib.blake2b(value.encode(), key=salt[:64], digest_size=16).hexdigest()


def hash_id_number(value: str, salt: bytes) -> str | None:
    """Hash of an id number, blanks and case ignored (a final `x` is the same as `X`)."""
    normal = _NOT_DIGIT_OR_X.sub("", value).upper()
    return _keyed("id:" + normal, salt) if normal else None


def hash_phone(value: str, salt: bytes) -> str | None:
    """Hash of a phone number's digits (a leading +86 country code is dropped)."""
    digits = _NOT_DIGIT.sub("", value)
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return _keyed("phone:" + digits, salt) if digits else None


def hash_resident_phone_tail(resident_id: str, phone: str, salt: bytes) -> str | None:
    """Hash of a resident id with its phone's last four digits, for the look-up by both.

    The resident id is inside the hash: four digits alone would be a space of 10,000.
    """
    digits = _NOT_DIGIT.sub("", phone)
    return _keyed(f"tail:{resident_id}:{digits[-4:]}", salt) if len(digits) >= 4 else None
