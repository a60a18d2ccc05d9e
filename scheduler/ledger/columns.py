"""The ledger files, their columns, and the Chinese header aliases accepted for them.

README.md documents CHINESE_ALIASES as one table; keep the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TableSpec:
    name: str  # file name without .csv, and the sheet name in a workbook
    required: tuple[str, ...]
    optional: tuple[str, ...]
    must_exist: bool = True  # a missing zones or workers file means none

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


BUILDINGS = TableSpec("buildings", ("building_id", "community_id", "compound_id", "lat", "lon"), ("floors",))
RESIDENTS = TableSpec(
    "residents",
    ("resident_id", "household_id", "building_id"),
    ("birth_year", "flags", "id_number", "phone"),
)
POINTS = TableSpec(
    "points",
    ("point_id", "lat", "lon", "desks", "hours"),
    ("name", "community_id", "compound_id", "accessible"),
)
WORKERS = TableSpec(
    "workers",
    ("worker_id", "kind", "skills", "available"),
    ("name", "community_id"),
    must_exist=False,
)
ZONES = TableSpec("zones", ("level", "scope", "target_id"), (), must_exist=False)
TABLES: tuple[TableSpec, ...] = (BUILDINGS, RESIDENTS, POINTS, WORKERS, ZONES)

# The contract's aliases (scenario-format.md, ruling 14) and a few more that real ledgers use.
CHINESE_ALIASES: dict[str, str] = {
    "楼栋编号": "building_id",
    "社区编号": "community_id",
    "小区编号": "compound_id",
    "纬度": "lat",
    "经度": "lon",
    "层数": "floors",
    "居民编号": "resident_id",
    "户编号": "household_id",
    "户号": "household_id",
    "出生年份": "birth_year",
    "标记": "flags",
    "身份证号": "id_number",
    "证件号码": "id_number",
    "手机号": "phone",
    "联系电话": "phone",
    "采样点编号": "point_id",
    "名称": "name",
    "采样台数": "desks",
    "开放时间": "hours",
    "工作时间": "hours",
    "无障碍": "accessible",
    "人员编号": "worker_id",
    "姓名": "name",
    "类别": "kind",
    "技能": "skills",
    "可用时间": "available",
    "风险等级": "level",
    "范围": "scope",
    "目标编号": "target_id",
}


def canonical_header(raw: str) -> str:
    """The contract's column name for a header cell, English or Chinese."""
    text = raw.strip().lstrip("\ufeff").strip()
    return CHINESE_ALIASES.get(text, text.lower())
