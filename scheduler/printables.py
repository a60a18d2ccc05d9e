"""What the people on the ground hold in hand: a point's roster and resident list, a doorstep team's
route sheet, and the SMS notices of the households.

Pure: the caller fills the rows below from a published version; out come `.xlsx` workbooks
(openpyxl), print-ready HTML pages (A4, table headers repeated on every page, no script, nothing
fetched) and the notice file (CSV, one line per household). Texts in Chinese or English. The rows
carry no id number or phone (the store keeps only their hashes), so nothing here can print one.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import groupby
from typing import Any, Literal, TextIO

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

Language = Literal["zh", "en"]
TIME_FORMAT = "yyyy-mm-dd hh:mm"


@dataclass(frozen=True)
class Duty:
    """One duty of a worker at a point or in a team."""

    worker_id: str
    name: str
    kind: str  # medical, cadre, community, volunteer
    role: str  # sample, register, order, lead, doorstep
    start: datetime
    end: datetime


@dataclass(frozen=True)
class ListedResident:
    """A line of a point's resident list."""

    start: datetime
    end: datetime
    household_id: str
    resident_id: str
    building_id: str
    compound_id: str


@dataclass(frozen=True)
class PointSheet:
    """Everything printed for one point of one published version."""

    scenario: str  # the round's name
    version_id: int
    point_id: str
    name: str
    hours: str  # as the ledger writes them
    duties: Sequence[Duty]
    residents: Sequence[ListedResident]  # in slot order


@dataclass(frozen=True)
class Stop:
    """A door on a team's route."""

    seq: int
    household_id: str
    building_id: str
    compound_id: str
    members: int  # residents of the household
    flags: tuple[str, ...]  # the members' flags (bedridden, infant …)
    arrive: datetime
    depart: datetime


@dataclass(frozen=True)
class RouteSheet:
    """Everything printed for one doorstep team of one published version."""

    scenario: str
    version_id: int
    team_id: str
    members: Sequence[Duty]
    stops: Sequence[Stop]  # in route order


@dataclass(frozen=True)
class Notice:
    """What one household is told: where (or at the door), when. Mode `unscheduled`: not yet."""

    household_id: str
    building_id: str
    compound_id: str
    mode: Literal["point", "doorstep", "unscheduled"]
    point_name: str
    start: datetime | None
    end: datetime | None


LABELS: dict[Language, dict[str, str]] = {
    "zh": {
        "point_title": "采样点排班与居民名单",
        "route_title": "上门采样路线单",
        "roster": "排班",
        "residents": "居民名单",
        "members": "队员",
        "stops": "路线",
        "start": "开始",
        "end": "结束",
        "slot": "时段",
        "role": "岗位",
        "worker_id": "人员编号",
        "name": "姓名",
        "kind": "类别",
        "household_id": "户编号",
        "resident_id": "居民编号",
        "building_id": "楼栋编号",
        "compound_id": "小区编号",
        "done": "已采",
        "seq": "顺序",
        "arrive": "到达",
        "depart": "离开",
        "members_count": "人数",
        "flags": "标记",
        "hours": "开放时间",
        "version": "版本",
        "persons": "人",
        "households": "户",
        "no_duties": "本版本未排班。",
        "no_residents": "本版本无居民分配到此点。",
        "no_stops": "本版本此队无上门任务。",
        "mode": "方式",
        "point": "采样点",
        "message": "短信内容",
    },
    "en": {
        "point_title": "Point roster and resident list",
        "route_title": "Doorstep route sheet",
        "roster": "Roster",
        "residents": "Residents",
        "members": "Members",
        "stops": "Route",
        "start": "Start",
        "end": "End",
        "slot": "Slot",
        "role": "Role",
        "worker_id": "Worker",
        "name": "Name",
        "kind": "Kind",
        "household_id": "Household",
        "resident_id": "Resident",
        "building_id": "Building",
        "compound_id": "Compound",
        "done": "Sampled",
        "seq": "#",
        "arrive": "Arrive",
        "depart": "Leave",
        "members_count": "Persons",
        "flags": "Flags",
        "hours": "Opening hours",
        "version": "version",
        "persons": "persons",
        "households": "households",
        "no_duties": "Nobody is on duty here in this version.",
        "no_residents": "No resident is sent here in this version.",
        "no_stops": "This team has no door to visit in this version.",
        "mode": "Mode",
        "point": "Point",
        "message": "Message",
    },
}
TERMS: dict[Language, dict[str, str]] = {
    "zh": {
        "sample": "采样",
        "register": "登记",
        "order": "秩序维护",
        "lead": "点长",
        "doorstep": "上门采样",
        "medical": "医务人员",
        "cadre": "下沉干部",
        "community": "社区工作者",
        "volunteer": "志愿者",
        "elderly_alone": "独居老人",
        "disabled": "残疾人",
        "pregnant": "孕产妇",
        "bedridden": "卧床",
        "infant": "婴幼儿",
        "point": "到点采样",
        "unscheduled": "待通知",
    },
    "en": {
        "sample": "sampler",
        "register": "registrar",
        "order": "order keeper",
        "lead": "lead",
        "doorstep": "doorstep",
        "medical": "medical",
        "cadre": "cadre",
        "community": "community worker",
        "volunteer": "volunteer",
        "elderly_alone": "elderly alone",
        "disabled": "disabled",
        "pregnant": "pregnant",
        "bedridden": "bedridden",
        "infant": "infant",
        "point": "at a point",
        "unscheduled": "not yet scheduled",
    },
}


def term(word: str, lang: Language) -> str:
    """A role, kind, flag or mode in the language (the word itself when unknown)."""
    return TERMS[lang].get(word, word)


def flag_text(flags: Iterable[str], lang: Language) -> str:
    return ("、" if lang == "zh" else ", ").join(term(f, lang) for f in flags)


@lru_cache(maxsize=4096)  # a district's million visits share a few hundred windows
def window(start: datetime, end: datetime) -> str:
    """`2022-04-12 08:00–08:30` (the end's date only when it differs)."""
    last = end.strftime("%H:%M") if end.date() == start.date() else end.strftime("%Y-%m-%d %H:%M")
    return f"{start:%Y-%m-%d %H:%M}–{last}"


# --- workbooks -----------------------------------------------------------------------------------


def _clean(value: Any) -> Any:
    """A cell value Excel takes: no control characters in text."""
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def _table(sheet: Worksheet, header: Sequence[str], rows: Iterable[Sequence[Any]], widths: Sequence[int]) -> None:
    """Header in row 1 (bold, frozen, repeated on every printed page), then the rows as values, never formulas."""
    sheet.append(list(header))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for r, row in enumerate(rows, start=2):
        for c, value in enumerate(row, start=1):
            cell = sheet.cell(r, c, _clean(value))
            if isinstance(value, datetime):
                cell.number_format = TIME_FORMAT
            elif isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"  # a ledger text is text, not a formula to run
    for c, width in enumerate(widths):
        sheet.column_dimensions[get_column_letter(c + 1)].width = width
    sheet.freeze_panes = "A2"
    sheet.print_title_rows = "1:1"


def _header(text: str) -> str:
    """A printed page header: `&` starts Excel's header codes, so a literal one is doubled."""
    return _clean(text).replace("&", "&&")


def _duty_rows(duties: Sequence[Duty], lang: Language) -> Iterator[tuple[Any, ...]]:
    for d in duties:
        yield d.start, d.end, term(d.role, lang), d.worker_id, d.name, term(d.kind, lang)


def _save(book: Workbook) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _duty_header(lang: Language) -> list[str]:
    t = LABELS[lang]
    return [t["start"], t["end"], t["role"], t["worker_id"], t["name"], t["kind"]]


def point_xlsx(sheet: PointSheet, lang: Language = "zh") -> bytes:
    """The point's workbook: sheet 1 the roster by time, sheet 2 the residents in slot order with a tick column."""
    t = LABELS[lang]
    book = Workbook()
    book.properties.title = f"{sheet.name} ({sheet.point_id}) · {t['version']} {sheet.version_id}"
    roster = book.active
    assert roster is not None  # a new workbook has one sheet
    roster.title = t["roster"]
    roster.oddHeader.center.text = _header(f"{sheet.name} {sheet.point_id} · {t['roster']}")
    _table(roster, _duty_header(lang), _duty_rows(sheet.duties, lang), (17, 17, 12, 12, 12, 12))
    residents = book.create_sheet(t["residents"])
    residents.oddHeader.center.text = _header(f"{sheet.name} {sheet.point_id} · {t['residents']}")
    _table(
        residents,
        [t[k] for k in ("start", "end", "household_id", "resident_id", "building_id", "compound_id", "done")],
        ((r.start, r.end, r.household_id, r.resident_id, r.building_id, r.compound_id, "") for r in sheet.residents),
        (17, 17, 12, 12, 18, 14, 8),
    )
    return _save(book)


def route_xlsx(sheet: RouteSheet, lang: Language = "zh") -> bytes:
    """The team's workbook: sheet 1 its members' duties, sheet 2 its doors in route order with a tick column."""
    t = LABELS[lang]
    book = Workbook()
    book.properties.title = f"{sheet.team_id} · {t['version']} {sheet.version_id}"
    members = book.active
    assert members is not None
    members.title = t["members"]
    members.oddHeader.center.text = _header(f"{sheet.team_id} · {t['members']}")
    _table(members, _duty_header(lang), _duty_rows(sheet.members, lang), (17, 17, 12, 12, 12, 12))
    stops = book.create_sheet(t["stops"])
    stops.oddHeader.center.text = _header(f"{sheet.team_id} · {t['stops']}")
    _table(
        stops,
        [
            t[k]
            for k in (
                "seq",
                "arrive",
                "depart",
                "household_id",
                "building_id",
                "compound_id",
                "members_count",
                "flags",
                "done",
            )
        ],
        (
            (
                s.seq,
                s.arrive,
                s.depart,
                s.household_id,
                s.building_id,
                s.compound_id,
                s.members,
                flag_text(s.flags, lang),
                "",
            )
            for s in sheet.stops
        ),
        (6, 17, 17, 12, 18, 14, 8, 16, 8),
    )
    return _save(book)


# --- print-ready pages ---------------------------------------------------------------------------

PRINT_CSS = """
@page { size: A4; margin: 12mm 10mm; }
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif;
       font-size: 10.5pt; color: #000; margin: 0 auto; max-width: 190mm; }
h1 { font-size: 15pt; margin: 0 0 2mm; }
h2 { font-size: 12.5pt; margin: 6mm 0 2mm; border-bottom: 1px solid #000; break-after: avoid; }
h3 { font-size: 11pt; margin: 4mm 0 1mm; break-after: avoid; }
p.meta { margin: 0 0 3mm; color: #333; }
table { border-collapse: collapse; width: 100%; }
thead { display: table-header-group; }
th, td { border: 1px solid #555; padding: 1mm 1.5mm; text-align: left; vertical-align: top; }
th { background: #eee; }
tr { break-inside: avoid; }
td.tick { width: 12mm; }
section.slot { break-inside: auto; }
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _html_table(header: Sequence[str], rows: Iterable[Sequence[Any]], tick: str | None = None) -> str:
    """A table; `tick`: the heading of an empty last column to tick by hand."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in (*header, *([tick] if tick else [])))
    empty = '<td class="tick"></td>' if tick else ""
    body = "".join("<tr>" + "".join(f"<td>{_esc(v)}</td>" for v in row) + empty + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _page(lang: Language, title: str, meta: str, body: str) -> str:
    return (
        f'<!doctype html>\n<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
        f"<title>{_esc(title)}</title><style>{PRINT_CSS}</style></head>"
        f'<body><h1>{_esc(title)}</h1><p class="meta">{_esc(meta)}</p>{body}</body></html>\n'
    )


def _hm(moment: datetime) -> str:
    return moment.strftime("%H:%M")


def _duties_html(duties: Sequence[Duty], lang: Language, empty: str) -> str:
    t = LABELS[lang]
    if not duties:
        return f"<p>{_esc(t[empty])}</p>"
    rows = ((window(d.start, d.end), term(d.role, lang), d.worker_id, d.name, term(d.kind, lang)) for d in duties)
    return _html_table([t["slot"], t["role"], t["worker_id"], t["name"], t["kind"]], rows)


def point_html(sheet: PointSheet, lang: Language = "zh") -> str:
    """The point's print page: its roster, then its residents slot by slot, each slot with its head count."""
    t = LABELS[lang]
    parts = [f"<h2>{_esc(t['roster'])}</h2>", _duties_html(sheet.duties, lang, "no_duties")]
    parts.append(f"<h2>{_esc(t['residents'])} ({len(sheet.residents)} {_esc(t['persons'])})</h2>")
    if not sheet.residents:
        parts.append(f"<p>{_esc(t['no_residents'])}</p>")
    header = [t["household_id"], t["resident_id"], t["building_id"], t["compound_id"]]
    for (start, end), group in groupby(sheet.residents, key=lambda r: (r.start, r.end)):
        members = list(group)
        households = len({r.household_id for r in members})
        rows = ((r.household_id, r.resident_id, r.building_id, r.compound_id) for r in members)
        parts.append(
            f'<section class="slot"><h3>{_esc(window(start, end))} · {len(members)} {_esc(t["persons"])}, '
            f"{households} {_esc(t['households'])}</h3>{_html_table(header, rows, tick=t['done'])}</section>"
        )
    meta = f"{sheet.scenario} · {sheet.point_id} · {t['hours']} {sheet.hours} · {t['version']} {sheet.version_id}"
    return _page(lang, f"{sheet.name} · {t['point_title']}", meta, "".join(parts))


def route_html(sheet: RouteSheet, lang: Language = "zh") -> str:
    """The team's print page: its members' duties, then its doors in route order with a tick column."""
    t = LABELS[lang]
    parts = [f"<h2>{_esc(t['members'])}</h2>", _duties_html(sheet.members, lang, "no_duties")]
    parts.append(f"<h2>{_esc(t['stops'])} ({len(sheet.stops)} {_esc(t['households'])})</h2>")
    if not sheet.stops:
        parts.append(f"<p>{_esc(t['no_stops'])}</p>")
    else:
        rows = (
            (
                s.seq,
                f"{_hm(s.arrive)}–{_hm(s.depart)}",
                s.household_id,
                s.building_id,
                s.compound_id,
                s.members,
                flag_text(s.flags, lang),
            )
            for s in sheet.stops
        )
        header = [t["seq"], t["slot"], t["household_id"], t["building_id"], t["compound_id"]]
        header += [t["members_count"], t["flags"]]
        parts.append(_html_table(header, rows, tick=t["done"]))
    meta = f"{sheet.scenario} · {t['version']} {sheet.version_id}"
    return _page(lang, f"{sheet.team_id} · {t['route_title']}", meta, "".join(parts))


# --- SMS notices ---------------------------------------------------------------------------------

NOTICE_COLUMNS = ("household_id", "compound_id", "building_id", "mode", "point", "start", "end", "message")


def notice_message(notice: Notice, lang: Language = "zh") -> str:
    """The SMS text for a household: its address, the point (or the door) and the time."""
    address = f"{notice.compound_id} {notice.building_id}"
    if notice.mode == "point" and notice.start is not None and notice.end is not None:
        return {
            "zh": f"【核酸采样通知】{address} 住户：请全家于 {window(notice.start, notice.end)} 到 "
            f"{notice.point_name} 采样，请携带身份证件、全程佩戴口罩。",
            "en": f"[Testing notice] Household at {address}: please come to {notice.point_name} on "
            f"{window(notice.start, notice.end)} to be sampled; bring your ID and wear a mask.",
        }[lang]
    if notice.mode == "doorstep" and notice.start is not None and notice.end is not None:
        return {
            "zh": f"【核酸采样通知】{address} 住户：请全家在家等候，采样人员将于 "
            f"{window(notice.start, notice.end)} 上门采样，开门前请戴好口罩。",
            "en": f"[Testing notice] Household at {address}: please stay at home; a sampling team will come "
            f"to your door on {window(notice.start, notice.end)}. Wear a mask when you open the door.",
        }[lang]
    return {
        "zh": f"【核酸采样通知】{address} 住户：您家的采样时间尚未排定，社区将另行通知。",
        "en": f"[Testing notice] Household at {address}: your sampling time is not scheduled yet; "
        "your community will let you know.",
    }[lang]


def _csv_text(value: str) -> str:
    """A text cell a spreadsheet will not run as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def write_notices(notices: Iterable[Notice], out: TextIO, lang: Language = "zh") -> int:
    """The notice file: a header, then one CSV line per household; returns how many households it holds."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(NOTICE_COLUMNS)
    count = 0
    for n in notices:
        writer.writerow(
            [
                _csv_text(n.household_id),
                _csv_text(n.compound_id),
                _csv_text(n.building_id),
                n.mode,
                _csv_text(n.point_name),
                n.start.isoformat(timespec="minutes") if n.start else "",
                n.end.isoformat(timespec="minutes") if n.end else "",
                notice_message(n, lang),
            ]
        )
        count += 1
    return count
