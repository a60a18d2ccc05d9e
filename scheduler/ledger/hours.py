"""Opening hours as coordinators write them, e.g. `周一至周日;7：00-10：00；17:00-21：00`.

Used for points' `hours` and workers' `available` (scenario-format.md, rulings 1 and 2).
Pure: standard library only.

A text is read in four named steps:

1. `_scan` cuts the text into tokens with one regular expression of named patterns (`_TOKENS`);
2. `_Reader.drop_noise` removes words that carry no hours (`对外`, `常年`), stray `?` and date words
   (`本周五起开放`), and refuses any other free text;
3. `_Reader.read_terms` reads weekday sets (`周一至周五`, `周六、周日`), labels (`上午`, `下午`) and
   windows `start-[次日]end`;
4. `_Reader.settle` checks the windows (end before start, end equal to start, overlaps), merges
   touching ones and sorts them.

Anything whose reading would be a guess is a *problem*. A problem with one likely reading
(`7:300` → 07:30, overlapping windows → their union) is *fixed* and reading goes on, so that every
problem is reported along with the reading it leads to; a problem without one (`25:00`, free text)
stops reading at once. Either way the text is refused with `HoursError`, whose `suggestion` is the
fixed reading as canonical text (see `format_hours`), or None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import NoReturn

from scheduler.domain import OpeningHours

DAY = 24 * 60
ALL_WEEK = frozenset(range(7))
WORKDAYS = frozenset(range(5))
WEEKEND = frozenset({5, 6})
_DAY_NUMBER = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "七": 6}
_DAY_NAME = "一二三四五六日"
# Labels that turn a 12-hour time into the afternoon, with the hours they shift by 12.
_AFTERNOON_HOURS = {"下午": range(1, 12), "晚上": range(1, 12), "中午": range(1, 6)}

_COLON = r"[:：]?"  # a colon may follow a label or a weekday word: `下午:13:00`
_DAYCHAR = "[一二三四五六日天七]"
_TIME = (
    r"(?P<hour>\d+)(?:"
    # 7:30, 7：30, 8.00; doubled `11:：00` and `；` between hour and minutes `17；00` are problems
    r"(?P<colon>[:：.]{1,2}|；(?=\d{2}(?![\d:：.点时])))(?P<minute>\d+)"
    r"|[点时](?P<half>半)"  # 8点半
    r"|[点时](?:(?P<cn_minute>\d{1,2})分?)?"  # 8点, 8点15分
    r")?"
)
# Tried in this order at each position; the first that matches wins.
_TOKENS: list[tuple[str, str]] = [
    ("SEP", r"[;；、,，。\s()（）]+"),
    (
        "DATE",
        rf"(?:\d{{4}}年)?(?:\d{{1,2}}月\d{{1,2}}[日号]|即日|今日|今天|明日|明天|[本下]周{_DAYCHAR})"
        r"起?(?:开放|开始|启用|恢复)?",
    ),
    ("ROUND", r"24\s*(?:小时|[hH])"),
    ("NEXT_DAY", r"次日"),
    ("LABEL", rf"(?P<label>上午|下午|中午|晚上|早上){_COLON}"),
    ("DAYS", rf"(?:周|星期|礼拜)(?P<day>{_DAYCHAR}){_COLON}"),
    ("WORKDAYS", rf"工作日{_COLON}"),
    ("WEEKEND", rf"(?:周末|双休日){_COLON}"),
    ("EVERYDAY", rf"(?:每日|每天|天天){_COLON}"),
    ("ALL_DAY", rf"全天{_COLON}"),
    ("FILLER", rf"(?:对外开放|对外|常年|不停|(?:开放|营业|工作|采样)时间){_COLON}"),
    ("TIME", _TIME),
    ("DASH", r"[-－—–~～─]+|至|到"),
    ("STRAY", r"[?？]"),
    ("OTHER", r"."),
]
_TOKEN_RE = re.compile("|".join(f"(?P<{kind}>{pattern})" for kind, pattern in _TOKENS), re.DOTALL)
_DAY_KINDS = {"DAYS", "WORKDAYS", "WEEKEND", "EVERYDAY"}
_FIXED_DAYS = {"WORKDAYS": WORKDAYS, "WEEKEND": WEEKEND, "EVERYDAY": ALL_WEEK}


class HoursError(ValueError):
    """A text whose reading would be a guess; `suggestion` is the likely reading, if there is one."""

    def __init__(self, text: str, reason: str, suggestion: str | None = None) -> None:
        self.text = text
        self.reason = reason
        self.suggestion = suggestion
        message = f'cannot read hours "{text}": {reason}'
        if suggestion is not None:
            message += f'; likely reading "{suggestion}"'
        super().__init__(message)


def parse_hours(text: str, *, accept_suggestion: bool = False) -> OpeningHours:
    """Read opening hours as a person reads them; refuse (HoursError) whatever would be a guess.

    With `accept_suggestion`, a refused text that has a likely reading returns that reading, with
    `warning` saying what was assumed.
    """
    reader = _Reader(text)
    hours = reader.read()
    if not reader.problems:
        return hours
    reason = "; ".join(reader.problems)
    suggestion = format_hours(hours)
    if not accept_suggestion:
        raise HoursError(text, reason, suggestion)
    warning = f'read "{text}" as "{suggestion}" ({reason})'
    return replace(parse_hours(suggestion), text=text, warning=warning)


def format_hours(hours: OpeningHours) -> str:
    """Canonical text of `hours`, which `parse_hours` reads strictly back to the same windows."""
    parts = []
    if hours.weekdays != ALL_WEEK:
        parts.append(_format_weekdays(hours.weekdays))
    if hours.windows == ((0, DAY),):
        parts.append("24小时")
    else:
        parts.extend(f"{_clock(start)}-{_clock_end(end)}" for start, end in hours.windows)
    return ";".join(parts)


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _clock_end(minute: int) -> str:
    return f"次日{_clock(minute - DAY)}" if minute > DAY else _clock(minute)


def _format_weekdays(days: frozenset[int]) -> str:
    """Runs of consecutive days: `周一至周五`, `周六、周日`, `周一、周三至周五`."""
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and runs[-1][1] == day - 1:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    names: list[str] = []
    for first, last in runs:
        if last - first >= 2:
            names.append(f"周{_DAY_NAME[first]}至周{_DAY_NAME[last]}")
        else:
            names.extend(f"周{_DAY_NAME[day]}" for day in range(first, last + 1))
    return "、".join(names)


def _day_range(first: int, last: int) -> frozenset[int]:
    """Days from `first` to `last`, running over Sunday when `last` comes before `first`."""
    return frozenset((first + i) % 7 for i in range((last - first) % 7 + 1))


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    start: int
    end: int
    groups: dict[str, str | None]

    @property
    def blank(self) -> bool:
        return self.kind == "SEP" and not self.text.strip()


@dataclass(frozen=True)
class _Window:
    start: int
    end: int
    source: str  # the text it was read from, to quote in reasons
    next_day: bool = False


def _scan(text: str) -> list[_Token]:
    """Tokens of `text`; runs of characters no pattern knows become one TEXT token."""
    tokens: list[_Token] = []
    for match in _TOKEN_RE.finditer(text):
        kind = match.lastgroup or "OTHER"
        if kind == "OTHER":
            if tokens and tokens[-1].kind == "TEXT":
                last = tokens.pop()
                tokens.append(replace(last, text=last.text + match.group(), end=match.end()))
                continue
            kind = "TEXT"
        tokens.append(_Token(kind, match.group(), match.start(), match.end(), match.groupdict()))
    return tokens


class _Reader:
    """Reads one text; `problems` collects the fixed problems, an unfixable one raises at once."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.problems: list[str] = []
        self.tokens: list[_Token] = []
        self.pos = 0

    def fix(self, reason: str) -> None:
        self.problems.append(reason)

    def fail(self, reason: str) -> NoReturn:
        raise HoursError(self.text, "; ".join([*self.problems, reason]))

    def read(self) -> OpeningHours:
        if not self.text.strip():
            self.fail("empty text")
        self.tokens = self.drop_noise(_scan(self.text))
        weekdays, windows = self.read_terms()
        return OpeningHours(self.text, self.settle(windows, weekdays), weekdays)

    # Step 2: words without hours.

    def drop_noise(self, tokens: list[_Token]) -> list[_Token]:
        """Tokens that carry hours; free text fails, stray `?` and dates are fixed by dropping them."""
        free_text = [f'"{token.text}"' for token in tokens if token.kind == "TEXT"]
        if free_text:
            self.fail("free text " + ", ".join(free_text))
        for token in tokens:
            if token.kind == "STRAY":
                self.fix(f'stray "{token.text}"')
            elif token.kind == "DATE":
                self.fix(f'date "{token.text}"')
        return [token for token in tokens if token.kind not in {"FILLER", "STRAY", "DATE"}]

    # Step 3: weekdays, labels and windows.

    def next(self, *, skip_blanks: bool = True) -> _Token | None:
        """The next token, past blanks (or past all separators with skip_blanks=False)."""
        while self.pos < len(self.tokens):
            token = self.tokens[self.pos]
            self.pos += 1
            if not (token.blank if skip_blanks else token.kind == "SEP"):
                return token
        return None

    def peek_kind(self, *, skip_blanks: bool = True) -> str | None:
        """The kind of the token `next` would return, without consuming it."""
        saved = self.pos
        token = self.next(skip_blanks=skip_blanks)
        self.pos = saved
        return token.kind if token else None

    def read_terms(self) -> tuple[frozenset[int], list[_Window]]:
        """The weekday set and the windows as written; a label applies until the next one, except to a `次日` end."""
        groups: list[tuple[frozenset[int], str]] = []
        windows: list[_Window] = []
        label: str | None = None
        label_used = True
        all_day = False
        while (token := self.next(skip_blanks=False)) is not None:
            if token.kind in _DAY_KINDS:
                groups.append(self.weekday_group(token))
            elif token.kind == "LABEL":
                label, label_used = token.groups["label"], False
            elif token.kind == "ALL_DAY":
                all_day = True
            elif token.kind == "ROUND":
                windows.append(_Window(0, DAY, token.text))
            elif token.kind == "TIME":
                windows.append(self.window(token, label))
                label_used = True
            else:
                self.fail(f'unexpected "{token.text}"')
        if not label_used:
            self.fail(f'"{label}" has no times')
        if len({days for days, _ in groups}) > 1:
            quoted = " and ".join(f'"{source}"' for _, source in groups)
            self.fail(f"weekdays given twice: {quoted} (one set of hours for all days)")
        if not windows:
            if not all_day:
                self.fail(f'no opening times in "{self.text}"')
            windows.append(_Window(0, DAY, "全天"))
        return (groups[0][0] if groups else ALL_WEEK), windows

    def weekday_group(self, first: _Token) -> tuple[frozenset[int], str]:
        """Weekday terms separated only by separators: `周六、周日`, `周一至周五`, `（工作日）`."""
        days = self.day_term(first)
        while self.peek_kind(skip_blanks=False) in _DAY_KINDS:
            term = self.next(skip_blanks=False)
            assert term is not None
            days |= self.day_term(term)
        return days, self.text[first.start : self.tokens[self.pos - 1].end]

    def day_term(self, token: _Token) -> frozenset[int]:
        """One weekday word: `周三`, a range `周一至周五`, `工作日`, `周末` or `每天`."""
        if token.kind != "DAYS":
            return _FIXED_DAYS[token.kind]
        first = _DAY_NUMBER[token.groups["day"] or ""]
        if self.peek_kind() != "DASH":
            return frozenset({first})
        self.next()
        last = self.next()
        if last is None or last.kind != "DAYS":
            self.fail(f'weekday range "{self.text[token.start : self.tokens[self.pos - 1].end]}" has no end')
        return _day_range(first, _DAY_NUMBER[last.groups["day"] or ""])

    def window(self, first: _Token, label: str | None) -> _Window:
        """`start-end` or `start-次日end`, blanks allowed around the dash; `label` never shifts a `次日` end."""
        start = self.minutes(first, label, end=False)
        dash = self.next()
        after = self.next() if dash is not None and dash.kind == "DASH" else None
        next_day = after is not None and after.kind == "NEXT_DAY"
        if next_day:
            after = self.next()
        if after is None or after.kind != "TIME":
            self.fail(f'"{self.text[first.start : self.tokens[self.pos - 1].end]}" has no end time')
        # A label names the part of the day the window starts in: `晚上8:00-次日6:00` ends at 06:00.
        end = self.minutes(after, None if next_day else label, end=True) + (DAY if next_day else 0)
        return _Window(start, end, self.text[first.start : after.end], next_day)

    def minutes(self, token: _Token, label: str | None, *, end: bool) -> int:
        """Minute of the day of one time token, with a 12-hour afternoon label applied."""
        groups, quoted = token.groups, f'"{token.text}"'
        hour_text = groups["hour"] or ""
        minute_text = "30" if groups["half"] else groups["minute"] or groups["cn_minute"] or "00"
        colon = groups["colon"] or ":"
        if len(colon) == 2:
            self.fix(f"doubled separator in {quoted}")
        elif colon == "；":
            self.fix(f"semicolon between hour and minutes in {quoted}")
        if len(minute_text) == 3 and minute_text.endswith("0") and int(minute_text[:2]) < 60:
            self.fix(f'three-digit minutes "{minute_text}" in {quoted}')
            minute_text = minute_text[:2]
        elif groups["minute"] is not None and len(minute_text) != 2:
            self.fail(f'minutes "{minute_text}" in {quoted}')
        hour, minute = int(hour_text), int(minute_text)
        if hour > 24 or len(hour_text) > 2:
            self.fail(f"hour {hour_text} (over 24) in {quoted}")
        if minute > 59:
            self.fail(f"minute {minute_text} (over 59) in {quoted}")
        if hour == 24 and minute > 0:
            self.fail(f"{quoted} is past 24:00")
        if hour == 24 and not end:
            self.fail(f"{quoted} as a start (24:00 only ends a window)")
        if hour in _AFTERNOON_HOURS.get(label or "", ()):
            hour += 12
        return hour * 60 + minute

    # Step 4: the windows together.

    def settle(self, windows: list[_Window], weekdays: frozenset[int]) -> tuple[tuple[int, int], ...]:
        """Sorted, disjoint windows; touching ones merged, round the clock as (0, 1440)."""
        merged: list[_Window] = []
        for window in sorted(map(self.checked, windows), key=lambda w: (w.start, w.end)):
            last = merged[-1] if merged else None
            if last is None or window.start > last.end:
                merged.append(window)
                continue
            if window.start < last.end:
                self.fix(f'"{last.source}" and "{window.source}" overlap')
            reaching = window if window.end > last.end else last
            merged[-1] = replace(reaching, start=last.start)
        first, last = merged[0], merged[-1]
        if last.end - DAY > first.start:
            self.fail(f'"{last.source}" runs into "{first.source}" of the next day')
        if len(merged) == 1 and last.end - last.start == DAY and weekdays == ALL_WEEK:
            return ((0, DAY),)
        return tuple((window.start, window.end) for window in merged)

    def checked(self, window: _Window) -> _Window:
        """One window on its own: an end before or equal to its start needs `次日`."""
        if window.next_day or window.end > window.start:
            return window
        quoted = f'"{window.source}"'
        if window.end == window.start:
            self.fix(f"end equals start in {quoted}")
            return _Window(0, DAY, window.source)
        reason = f"end {_clock(window.end)} is before start {_clock(window.start)} in {quoted}"
        afternoon = window.end + 12 * 60
        if not window.start < afternoon <= DAY:
            self.fail(reason)
        self.fix(reason)
        return replace(window, end=afternoon)
