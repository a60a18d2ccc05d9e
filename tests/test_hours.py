"""The opening-hours parser on real Hangzhou texts (scheduler/ledger/hours.py)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from scheduler.domain import OpeningHours, RoundSettings
from scheduler.ledger.hours import HoursError, format_hours, parse_hours

HANGZHOU = Path("/work/shared/data/hangzhou-points/hangzhou_2022-05-03.geojson")
ALL_WEEK = frozenset(range(7))
MON_FRI = frozenset(range(5))


def minutes(clock: str) -> int:
    """`07:30` → 450, `次日08:00` → 1920 (the expected values, written out independently)."""
    next_day = clock.startswith("次日")
    hour, minute = clock.removeprefix("次日").split(":")
    return int(hour) * 60 + int(minute) + (1440 if next_day else 0)


def spans(*texts: str) -> tuple[tuple[int, int], ...]:
    """`"07:30-10:30"` → ((450, 630),)."""
    return tuple((minutes(a), minutes(b)) for a, b in (text.split("-") for text in texts))


ROUND_THE_CLOCK = spans("00:00-24:00")

# Real `工作时间` texts from the Hangzhou file, with the windows a person reads in them.
REAL_TEXTS: list[tuple[str, tuple[tuple[int, int], ...], frozenset[int]]] = [
    ("周一至周日;07:30-10:30；13:00-16:00", spans("07:30-10:30", "13:00-16:00"), ALL_WEEK),
    ("7：00-10：00；17:00-21：00", spans("07:00-10:00", "17:00-21:00"), ALL_WEEK),
    ("周一至周日;16:00-20:00", spans("16:00-20:00"), ALL_WEEK),
    ("每日;8：00-12：00", spans("08:00-12:00"), ALL_WEEK),
    ("每天;8：30-11：30；13：30-17：30", spans("08:30-11:30", "13:30-17:30"), ALL_WEEK),
    ("每天13:30-17:30", spans("13:30-17:30"), ALL_WEEK),
    ("周一至周日；24小时", ROUND_THE_CLOCK, ALL_WEEK),
    ("周一至周日;24小时", ROUND_THE_CLOCK, ALL_WEEK),
    ("周一至周日；24h", ROUND_THE_CLOCK, ALL_WEEK),
    ("周一至周日；24h；", ROUND_THE_CLOCK, ALL_WEEK),
    ("全天24小时常年不停", ROUND_THE_CLOCK, ALL_WEEK),
    ("周一至周日;8:00-次日8：00", ROUND_THE_CLOCK, ALL_WEEK),
    ("周一至周日;7:30—10:30 ；13:00—16:00", spans("07:30-10:30", "13:00-16:00"), ALL_WEEK),
    ("周一到周日;17:00-20:00", spans("17:00-20:00"), ALL_WEEK),
    ("周一------周日;上午8:00-11:00 下午13:00-16:00", spans("08:00-11:00", "13:00-16:00"), ALL_WEEK),
    ("周一----周日;上午8:00-11:00 下午13:00-16:00", spans("08:00-11:00", "13:00-16:00"), ALL_WEEK),
    ("周一至周日;8:00-11:00、18:00-21:00", spans("08:00-11:00", "18:00-21:00"), ALL_WEEK),
    ("每天;7:00-9:00  17:00-20:00", spans("07:00-09:00", "17:00-20:00"), ALL_WEEK),
    ("周一至周日;  7:00-11:00；16:00-20:00", spans("07:00-11:00", "16:00-20:00"), ALL_WEEK),
    ("对外 16:00-20:00", spans("16:00-20:00"), ALL_WEEK),
    ("对外 9：00-12：00；14：00-17：00", spans("09:00-12:00", "14:00-17:00"), ALL_WEEK),
    ("7：00—11：00 13：00—17：00 18：00—22：00", spans("07:00-11:00", "13:00-17:00", "18:00-22:00"), ALL_WEEK),
    ("8:00-11:00；18:00--21:00", spans("08:00-11:00", "18:00-21:00"), ALL_WEEK),
    ("7:00--9:30     18:00--21:00", spans("07:00-09:30", "18:00-21:00"), ALL_WEEK),
    ("13：00——14：00", spans("13:00-14:00"), ALL_WEEK),
    ("周一至周日;上午7:00~10:00 下午17:00~20:00", spans("07:00-10:00", "17:00-20:00"), ALL_WEEK),
    ("周一到周日;8:30–11:30", spans("08:30-11:30"), ALL_WEEK),
    ("周一至周日;8:00－11:00 14:00－17:00", spans("08:00-11:00", "14:00-17:00"), ALL_WEEK),
    ("周一至周日;8:00--11.00      14.00---17:00", spans("08:00-11:00", "14:00-17:00"), ALL_WEEK),
    ("（工作日）13：30-16：30", spans("13:30-16:30"), MON_FRI),
    ("（工作日）9:00-11:30；13：30—16：30", spans("09:00-11:30", "13:30-16:30"), MON_FRI),
    ("周一至周日;上午8:30-11:30；下午1:30-4:30", spans("08:30-11:30", "13:30-16:30"), ALL_WEEK),
    ("周一至周日；上午8:00-11:00；下午1:00-4:00", spans("08:00-11:00", "13:00-16:00"), ALL_WEEK),
    ("周一至周日；下午:13:00-16:00", spans("13:00-16:00"), ALL_WEEK),
    ("周一至周日；上午:8:00-11:00；下午:13:00-16:30", spans("08:00-11:00", "13:00-16:30"), ALL_WEEK),
    ("周一至周日；上午9:00-12:00；下午13:30-17:30", spans("09:00-12:00", "13:30-17:30"), ALL_WEEK),
    (
        "周一至周日；上午9:00-11:00；下午14:00-17:00；晚上19:00-21:00",
        spans("09:00-11:00", "14:00-17:00", "19:00-21:00"),
        ALL_WEEK,
    ),
    ("周一至周日;6：00-9:00 14:00-17:00 17:00-21:00", spans("06:00-09:00", "14:00-21:00"), ALL_WEEK),
    ("周一至周日;6:00-10:00   ", spans("06:00-10:00"), ALL_WEEK),
    ("周一至周日;8:00-11:30；13:00-16:00  ", spans("08:00-11:30", "13:00-16:00"), ALL_WEEK),
    ("8:30-11:00;17:30-20:30", spans("08:30-11:00", "17:30-20:30"), ALL_WEEK),
    ("7:30-11:30 ；15:30-19:30", spans("07:30-11:30", "15:30-19:30"), ALL_WEEK),
    ("周一至周日；08：00-11：45   13：00-17：00", spans("08:00-11:45", "13:00-17:00"), ALL_WEEK),
    ("8:00-11:15;13:30-16:15", spans("08:00-11:15", "13:30-16:15"), ALL_WEEK),
    ("上午8:00-11:30 下午13:00-16:30", spans("08:00-11:30", "13:00-16:30"), ALL_WEEK),
    ("周一至周日；上午08:15-12:00；下午13:30-17:00", spans("08:15-12:00", "13:30-17:00"), ALL_WEEK),
    ("08:00-17:00", spans("08:00-17:00"), ALL_WEEK),
]

# Forms the rules name that the Hangzhou file happens not to contain.
OTHER_FORMS: list[tuple[str, tuple[tuple[int, int], ...], frozenset[int]]] = [
    ("周一至周五 8:00-17:00", spans("08:00-17:00"), MON_FRI),
    ("工作日：8:00-17:00", spans("08:00-17:00"), MON_FRI),
    ("(周一至周五)8:00-17:00", spans("08:00-17:00"), MON_FRI),
    ("周五至周一 8-17", spans("08:00-17:00"), frozenset({4, 5, 6, 0})),
    ("星期六、星期日;8点半-11点", spans("08:30-11:00"), frozenset({5, 6})),
    ("周六、周日 9:00-12:00", spans("09:00-12:00"), frozenset({5, 6})),
    ("周末 9:00-12:00", spans("09:00-12:00"), frozenset({5, 6})),
    ("7:00-9:00 星期一至星期五", spans("07:00-09:00"), MON_FRI),
    ("24H", ROUND_THE_CLOCK, ALL_WEEK),
    ("00:00-24:00", ROUND_THE_CLOCK, ALL_WEEK),
    ("全天", ROUND_THE_CLOCK, ALL_WEEK),
    ("常年;8:00-17:00", spans("08:00-17:00"), ALL_WEEK),
    ("晚上7:00-9:00", spans("19:00-21:00"), ALL_WEEK),
    ("中午11:30-1:30", spans("11:30-13:30"), ALL_WEEK),
    ("18:00-24:00", spans("18:00-24:00"), ALL_WEEK),
    ("8:00~17:00", spans("08:00-17:00"), ALL_WEEK),
    ("8:00～17:00", spans("08:00-17:00"), ALL_WEEK),
    ("8:00至17:00", spans("08:00-17:00"), ALL_WEEK),
    ("8点到17点", spans("08:00-17:00"), ALL_WEEK),
    ("8:00 - 11:00,14:00-17:00，18:00-20:00", spans("08:00-11:00", "14:00-17:00", "18:00-20:00"), ALL_WEEK),
    ("周一至周五;20:00-次日08:00", spans("20:00-次日08:00"), MON_FRI),
    ("20:00-次日02:00", spans("20:00-次日02:00"), ALL_WEEK),
]


@pytest.mark.parametrize(("text", "windows", "weekdays"), REAL_TEXTS + OTHER_FORMS)
def test_reads_as_a_person_reads(text: str, windows: tuple[tuple[int, int], ...], weekdays: frozenset[int]) -> None:
    """Each text reads strictly, without warning, to the windows and weekdays a person reads."""
    hours = parse_hours(text)
    assert (hours.windows, hours.weekdays) == (windows, weekdays)
    assert hours.text == text
    assert hours.warning is None


def test_real_table_is_large_and_real() -> None:
    """The real-text table has at least 40 rows, all taken from the Hangzhou file when it is present."""
    assert len(REAL_TEXTS) >= 40
    if HANGZHOU.exists():
        assert {text for text, _, _ in REAL_TEXTS} <= set(_hangzhou_texts())


# Refused texts: the reason quotes the offending part; the suggestion is the likely reading or None.
REFUSED: list[tuple[str, str, str | None]] = [
    (
        "周一至周日;8:00－11:00 14:00－5:00",
        'end 05:00 is before start 14:00 in "14:00－5:00"',
        "08:00-11:00;14:00-17:00",
    ),
    ("22:00-6:00", 'end 06:00 is before start 22:00 in "22:00-6:00"', None),
    ("7:300-9:30；18:00-21:00", '"7:300"', "07:30-09:30;18:00-21:00"),
    ("周一至周日;7：00-11:：00", '"11:：00"', "07:00-11:00"),
    ("周一至周日;8:30－12:00 13:30－15：:30", '"15：:30"', "08:30-12:00;13:30-15:30"),
    ("周一至周日;14:00-17；00", '"17；00"', "14:00-17:00"),
    ("6:30--9；00；17:30--21:30", '"9；00"', "06:30-09:00;17:30-21:30"),
    ("周一至周日;7；30-10:00；18:00-20:30", '"7；30"', "07:30-10:00;18:00-20:30"),
    ("周一至周日；上午8：00—11：00  下午12:30-16；00", '"16；00"', "08:00-11:00;12:30-16:00"),
    ("周一至周日;8：00-11：00? 13：30-16：30", 'stray "?"', "08:00-11:00;13:30-16:30"),
    ("7：30--9：30；8：00--21：00", '"7：30--9：30" and "8：00--21：00" overlap', "07:30-21:00"),
    ("周一到周日;8:00-11:00；13:00-16:00；8:00-21:00", '"8:00-21:00" and "13:00-16:00" overlap', "08:00-21:00"),
    ("周一至周日;8:00-8:00", 'end equals start in "8:00-8:00"', "24小时"),
    ("周一至周五;8:00-8:00", 'end equals start in "8:00-8:00"', "周一至周五;24小时"),
    ("周一至周日;7:00-15:00；15:00-23:00本周五起开放", 'date "本周五起开放"', "07:00-23:00"),
    ("周一至周日；采样室8:00-20:00；其余时间在急诊室发热门诊24小时服务", '"其余时间在急诊室发热门诊"', None),
    ("", "empty text", None),
    ("   ", "empty text", None),
    ("25:00-26:00", '"25:00"', None),
    ("7:75-8:00", '"7:75"', None),
    ("24:00-08:00", '"24:00" as a start', None),
    ("8:00", '"8:00" has no end time', None),
    ("周一至周五 8:00-12:00 周六 9:00-10:00", '"周一至周五" and "周六"', None),
    ("20:00-次日02:00;01:00-05:00", '"20:00-次日02:00" runs into "01:00-05:00"', None),
]


@pytest.mark.parametrize(("text", "quoted", "suggestion"), REFUSED)
def test_refuses_guesses(text: str, quoted: str, suggestion: str | None) -> None:
    """A text whose reading would be a guess raises HoursError quoting the offending part, with the likely reading."""
    with pytest.raises(HoursError) as caught:
        parse_hours(text)
    assert quoted in caught.value.reason
    assert caught.value.suggestion == suggestion
    assert caught.value.text == text


@pytest.mark.parametrize("suggestion", sorted({s for _, _, s in REFUSED if s is not None}))
def test_suggestions_read_strictly(suggestion: str) -> None:
    """Every suggestion is canonical text that reads strictly and formats back to itself."""
    hours = parse_hours(suggestion)
    assert hours.warning is None
    assert format_hours(hours) == suggestion


def test_accept_suggestion_returns_reading_with_warning() -> None:
    """With accept_suggestion, a refused text returns the suggestion's reading, keeps its own text, and warns."""
    hours = parse_hours("周一至周日;8:00－11:00 14:00－5:00", accept_suggestion=True)
    assert hours.windows == spans("08:00-11:00", "14:00-17:00")
    assert hours.text == "周一至周日;8:00－11:00 14:00－5:00"
    assert hours.warning is not None
    assert "周一至周日;8:00－11:00 14:00－5:00" in hours.warning
    assert "08:00-11:00;14:00-17:00" in hours.warning
    assert "14:00－5:00" in hours.warning


def test_accept_suggestion_keeps_weekdays() -> None:
    """An accepted suggestion keeps the weekday set of the original text."""
    hours = parse_hours("周一至周五;8:00-8:00", accept_suggestion=True)
    assert hours.weekdays == MON_FRI
    assert hours.windows == ROUND_THE_CLOCK


def test_accept_suggestion_still_raises_without_one() -> None:
    """A text with no likely reading raises even with accept_suggestion."""
    with pytest.raises(HoursError) as caught:
        parse_hours("周一至周日；采样室8:00-20:00；其余时间在急诊室发热门诊24小时服务", accept_suggestion=True)
    assert caught.value.suggestion is None


def test_hours_error_is_a_value_error_naming_text_and_reading() -> None:
    """HoursError is a ValueError whose message carries the text, the reason and the likely reading."""
    with pytest.raises(ValueError, match="14:00-17:00") as caught:
        parse_hours("14:00－5:00")
    message = str(caught.value)
    assert "14:00－5:00" in message
    assert "before start" in message


@pytest.mark.parametrize(
    ("hours", "text"),
    [
        (OpeningHours("", spans("07:30-10:30", "13:00-16:00")), "07:30-10:30;13:00-16:00"),
        (OpeningHours("", spans("09:00-11:30"), MON_FRI), "周一至周五;09:00-11:30"),
        (OpeningHours("", ROUND_THE_CLOCK), "24小时"),
        (OpeningHours("", ROUND_THE_CLOCK, MON_FRI), "周一至周五;24小时"),
        (OpeningHours("", spans("20:00-次日08:00")), "20:00-次日08:00"),
        (OpeningHours("", spans("08:00-次日08:00"), MON_FRI), "周一至周五;08:00-次日08:00"),
        (OpeningHours("", spans("18:00-24:00"), frozenset({5, 6})), "周六、周日;18:00-24:00"),
        (OpeningHours("", spans("08:00-12:00"), frozenset({0, 2, 3, 4})), "周一、周三至周五;08:00-12:00"),
    ],
)
def test_format_and_parse_round_trip(hours: OpeningHours, text: str) -> None:
    """format_hours writes the canonical text, and parse_hours reads it back to the same hours."""
    assert format_hours(hours) == text
    back = parse_hours(text)
    assert (back.windows, back.weekdays) == (hours.windows, hours.weekdays)


@pytest.mark.parametrize(
    ("text", "weekdays"),
    [
        ("（工作日）9:00-11:30", {0, 1, 2, 3, 4}),
        ("周一至周五;8:00-17:00", {0, 1, 2, 3, 4}),
        ("周二至周四 8:00-17:00", {1, 2, 3}),
        ("周六至周一 8:00-17:00", {5, 6, 0}),
        ("星期六、星期天 8:00-17:00", {5, 6}),
        ("周一、周三、周五 8:00-17:00", {0, 2, 4}),
        ("周末 8:00-17:00", {5, 6}),
        ("每日;8:00-17:00", set(range(7))),
        ("周一至周日;8:00-17:00", set(range(7))),
        ("8:00-17:00", set(range(7))),
    ],
)
def test_weekday_sets(text: str, weekdays: set[int]) -> None:
    """Weekday words read to the set of days (Monday = 0) the hours apply on."""
    assert parse_hours(text).weekdays == frozenset(weekdays)


def test_next_day_window_runs_past_midnight() -> None:
    """`次日` adds a day to the end; the window runs into the round from the day before."""
    hours = parse_hours("20:00-次日08:00")
    assert hours.windows == ((1200, 1920),)
    assert not hours.round_the_clock
    # From 2022-05-03 00:00 for one day: the previous evening's window reaches 08:00.
    assert hours.in_round(datetime(2022, 5, 3, 0, 0), 1) == [(0, 480), (1200, 1440)]


def test_next_day_same_time_is_round_the_clock() -> None:
    """A window ending next day at its start time is round the clock, as are 24小时 and 全天."""
    for text in ("周一至周日;8:00-次日8：00", "24小时", "全天", "00:00-24:00"):
        assert parse_hours(text).round_the_clock, text
    assert parse_hours("24小时").in_round(datetime(2022, 5, 3, 7, 0), 2) == [(0, 2880)]


@pytest.mark.parametrize(
    ("text", "windows"),
    [
        ("晚上8:00-次日6:00", spans("20:00-次日06:00")),
        ("晚上10:00-次日2:00", spans("22:00-次日02:00")),
        ("下午5:00-次日1:00", spans("17:00-次日01:00")),
        ("上午8:00-11:00；晚上8:00-次日6:00", spans("08:00-11:00", "20:00-次日06:00")),
    ],
)
def test_label_does_not_shift_a_next_day_end(text: str, windows: tuple[tuple[int, int], ...]) -> None:
    """An afternoon or evening label shifts the start but not an end marked `次日`."""
    assert parse_hours(text).windows == windows


def test_slot_mask_aligns_openings_to_slots() -> None:
    """Ruling 1: with slots from 07:00, an opening at 07:30 first serves 07:30, one at 08:15 first serves 08:30."""
    settings = RoundSettings(name="t", start=datetime(2022, 5, 3, 7, 0), days=1, slot_minutes=30)
    early = parse_hours("周一至周日;07:30-10:30；13:00-16:00")
    assert early.in_round(settings.start, 1) == [(30, 210), (360, 540)]
    mask = early.slot_mask(settings)
    assert mask.nonzero()[0].tolist() == [1, 2, 3, 4, 5, 6, 12, 13, 14, 15, 16, 17]

    late = parse_hours("周一至周日；上午08:15-12:00；下午13:30-17:00")
    first_slot = int(late.slot_mask(settings).nonzero()[0][0])
    assert settings.at(first_slot * settings.slot_minutes) == datetime(2022, 5, 3, 8, 30)


def test_workday_hours_skip_the_weekend_in_a_round() -> None:
    """`（工作日）` hours open on Friday but not on Saturday or Sunday of a round starting Friday."""
    friday = datetime(2022, 5, 6, 7, 0)
    hours = parse_hours("（工作日）9:00-11:30")
    assert hours.in_round(friday, 3) == [(120, 270)]


def _hangzhou_texts() -> list[str]:
    features = json.loads(HANGZHOU.read_text(encoding="utf-8"))["features"]
    return [feature["properties"].get("工作时间") or "" for feature in features]


@pytest.mark.skipif(not HANGZHOU.exists(), reason="Hangzhou data not present")
def test_every_hangzhou_text_reads_or_says_why() -> None:
    """All 844 Hangzhou texts: 769 read strictly, 74 only via a suggestion that reads strictly, 1 refused."""
    strict = suggested = refused = 0
    for text in _hangzhou_texts():
        try:
            hours = parse_hours(text)
        except HoursError as error:
            if error.suggestion is None:
                refused += 1
                continue
            suggested += 1
            accepted = parse_hours(text, accept_suggestion=True)
            assert (accepted.windows, accepted.weekdays) == (
                parse_hours(error.suggestion).windows,
                parse_hours(error.suggestion).weekdays,
            )
        else:
            strict += 1
            back = parse_hours(format_hours(hours))
            assert (back.windows, back.weekdays) == (hours.windows, hours.weekdays)
    assert (strict, suggested, refused) == (769, 74, 1)
