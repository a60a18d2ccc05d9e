"""The seeded generator of realistic areas (fixtures/generate.py) and the checked-in examples."""

from __future__ import annotations

import csv
import math
import re
import tomllib
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fixtures.generate import POINT_HOURS, generate, open_slots, settings_for
from fixtures.hangzhou import DEFAULT_GEOJSON, build, gcj_to_wgs, wgs_to_gcj
from scheduler.domain import FLAGS, KINDS, LEVELS, SCOPES, SKILLS, RoundSettings
from scheduler.ledger.hours import parse_hours

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "examples"
FILES = ("scenario.toml", "buildings.csv", "residents.csv", "points.csv", "workers.csv", "zones.csv")
CONTRACT_HEADERS = {
    "buildings": ["building_id", "community_id", "compound_id", "lat", "lon", "floors"],
    "residents": ["resident_id", "household_id", "building_id", "birth_year", "flags", "id_number", "phone"],
    "points": ["point_id", "name", "community_id", "compound_id", "lat", "lon", "desks", "hours", "accessible"],
    "workers": ["worker_id", "name", "kind", "skills", "community_id", "available"],
    "zones": ["level", "scope", "target_id"],
}
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
EARTH_RADIUS_M = 6_371_008.8


def rows(folder: Path, name: str) -> list[dict[str, str]]:
    with open(folder / f"{name}.csv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def header(folder: Path, name: str) -> list[str]:
    with open(folder / f"{name}.csv", encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle))


def haversine_m(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a))


def split(text: str) -> list[str]:
    return [part for part in text.split(";") if part]


@pytest.fixture(scope="module")
def community(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("community")
    return out, generate("community", 1, out)


@pytest.fixture(scope="module")
def street(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("street")
    return out, generate("street", 3, out)


@pytest.fixture(scope="module", params=["community", "street"])
def area(request: pytest.FixtureRequest) -> Path:
    folder: Path = request.getfixturevalue(request.param)[0]
    return folder


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    """Two runs with the same size and seed write byte-identical files."""
    generate("street", 11, tmp_path / "a")
    generate("street", 11, tmp_path / "b")
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_other_seed_other_files(tmp_path: Path) -> None:
    """Another seed gives other buildings, residents, points and workers."""
    generate("community", 11, tmp_path / "a")
    generate("community", 12, tmp_path / "b")
    for name in ("buildings.csv", "residents.csv", "points.csv", "workers.csv"):
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "b" / name).read_bytes(), name


def test_unknown_size_refused(tmp_path: Path) -> None:
    """An unknown size is an error, not a silent default."""
    with pytest.raises(ValueError, match="unknown size"):
        generate("province", 1, tmp_path)


def test_progress_reports_each_community(tmp_path: Path) -> None:
    """progress(done, total) is called once per community, ending at total."""
    calls: list[tuple[int, int]] = []
    generate("street", 1, tmp_path, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 8) for i in range(1, 9)]


def test_headers_are_the_contract_columns(area: Path) -> None:
    """Each CSV has exactly the contract's columns, in the contract's order."""
    for name, columns in CONTRACT_HEADERS.items():
        assert header(area, name) == columns, name


def test_counts_match_rows(street: tuple[Path, dict[str, int]]) -> None:
    """The returned counts are the rows written, and the sizes are as documented."""
    folder, counts = street
    assert counts["residents"] == len(rows(folder, "residents"))
    assert counts["buildings"] == len(rows(folder, "buildings"))
    assert counts["points"] == len(rows(folder, "points"))
    assert counts["workers"] == len(rows(folder, "workers"))
    assert counts["zones"] == len(rows(folder, "zones"))
    assert counts["desks"] == sum(int(p["desks"]) for p in rows(folder, "points"))
    assert counts["communities"] == 8
    assert 59_000 <= counts["residents"] <= 61_000


def test_scenario_toml_has_every_key(community: tuple[Path, dict[str, int]]) -> None:
    """scenario.toml is valid TOML with the round's start and every other key at the contract's default."""
    data = tomllib.loads((community[0] / "scenario.toml").read_text(encoding="utf-8"))
    assert data["start"] == datetime(2022, 4, 12, 7, 0)
    assert data["days"] == 1
    assert data["name"]
    defaults = RoundSettings(name="x", start=datetime(2022, 1, 1))
    expected = {
        "slot_minutes": 30,
        "desk_rate_per_hour": 120,
        "doorstep_minutes_per_household": 6,
        "walk_speed_m_per_min": 70,
        "max_walk_m": 1500,
        "max_shift_hours": 4.0,
        "min_break_minutes": 30,
        "max_day_hours": 8.0,
        "order_keepers_per_desk": 0.5,
    }
    for key, value in expected.items():
        assert data[key] == value == getattr(defaults, key), key


def test_households(street: tuple[Path, dict[str, int]]) -> None:
    """Households average 2.4-2.8 people, have 1-6 members and live in one building each."""
    residents = rows(street[0], "residents")
    sizes = Counter(r["household_id"] for r in residents)
    assert 2.4 <= len(residents) / len(sizes) <= 2.8
    assert set(sizes.values()) <= set(range(1, 7))
    homes = defaultdict(set)
    for r in residents:
        homes[r["household_id"]].add(r["building_id"])
    assert all(len(b) == 1 for b in homes.values())


def test_ages_and_flags(street: tuple[Path, dict[str, int]]) -> None:
    """18 % are 60+ (16-20 %), and each flag means what it says at a plausible rate."""
    residents = rows(street[0], "residents")
    n = len(residents)
    sizes = Counter(r["household_id"] for r in residents)
    age = np.array([2022 - int(r["birth_year"]) for r in residents])
    flags = [set(split(r["flags"])) for r in residents]
    assert 0.16 <= (age >= 60).mean() <= 0.20
    assert 0.12 <= (age < 18).mean() <= 0.25
    assert age.min() >= 0 and age.max() <= 100
    alone = np.array([sizes[r["household_id"]] == 1 for r in residents])
    has = {flag: np.array([flag in f for f in flags]) for flag in FLAGS}
    assert all(f <= set(FLAGS) for f in flags)
    assert (has["infant"] == (age < 3)).all()
    assert (has["elderly_alone"] == ((age >= 60) & alone)).all()
    assert (age[has["bedridden"]] >= 60).all()
    assert ((age[has["pregnant"]] >= 20) & (age[has["pregnant"]] <= 40)).all()
    assert 0.01 <= has["disabled"].mean() <= 0.02
    assert 0.002 <= has["pregnant"].mean() <= 0.008
    assert 0.01 <= has["infant"].mean() <= 0.03
    assert 0 < has["bedridden"].sum() <= 0.01 * (age >= 60).sum()
    assert 0.015 <= has["elderly_alone"].mean() <= 0.05
    assert n == len(flags)


def test_id_numbers_and_phones(street: tuple[Path, dict[str, int]]) -> None:
    """About 30 % have an 18-character id number with a valid check character and birth date, and a phone."""
    residents = rows(street[0], "residents")
    with_id = [r for r in residents if r["id_number"]]
    assert 0.27 <= len(with_id) / len(residents) <= 0.33
    assert any(r["id_number"].endswith("X") for r in with_id)
    for r in with_id:
        number = r["id_number"]
        assert re.fullmatch(r"\d{17}[\dX]", number), number
        check = "10X98765432"[sum(int(d) * w for d, w in zip(number[:17], ID_WEIGHTS, strict=True)) % 11]
        assert number[17] == check, number
        assert number[6:10] == r["birth_year"]
        datetime.strptime(number[6:14], "%Y%m%d")  # a real date
        assert number[6:14] <= "20220412"
    phones = [r["phone"] for r in residents if r["phone"]]
    assert all(re.fullmatch(r"1[358]\d{9}", p) for p in phones)
    assert all(r["id_number"] for r in residents if r["phone"])
    assert 0.22 <= len(phones) / len(residents) <= 0.33


def test_points_and_desks_at_the_norm(street: tuple[Path, dict[str, int]]) -> None:
    """2,000-3,000 residents a point, 600-800 a desk, a few public points, about 70 % accessible."""
    folder, counts = street
    points = rows(folder, "points")
    residents = counts["residents"]
    desks = sum(int(p["desks"]) for p in points)
    assert 2_000 <= residents / len(points) <= 3_000
    assert 600 <= residents / desks <= 800
    assert all(1 <= int(p["desks"]) <= 12 for p in points)
    public = [p for p in points if not p["community_id"] and not p["compound_id"]]
    assert len(public) <= 0.2 * len(points)
    assert 0.5 <= sum(p["accessible"] == "true" for p in points) / len(points) <= 0.9
    assert any(p["compound_id"] for p in points)


def test_hours_are_the_listed_texts_and_mostly_long(area: Path) -> None:
    """Point hours come from POINT_HOURS, parse strictly, and most points are open 8 hours or more."""
    settings = settings_for("x")
    points = rows(area, "points")
    listed = {text for text, _ in POINT_HOURS}
    assert all(p["hours"] in listed for p in points)
    long_open = [p for p in points if open_slots(p["hours"], settings) >= 16]
    assert len(long_open) > len(points) / 2
    for w in rows(area, "workers"):
        assert parse_hours(w["available"]).windows


def test_samplers_at_the_norm(street: tuple[Path, dict[str, int]]) -> None:
    """About one sampler per 360 residents (300-400, doorstep reinforcements included)."""
    folder, counts = street
    samplers = [w for w in rows(folder, "workers") if "sample" in split(w["skills"])]
    assert all(w["kind"] == "medical" for w in samplers)
    assert 300 <= counts["residents"] / len(samplers) <= 400


def test_staff_can_cover_each_community(area: Path) -> None:
    """Per community: registrars >= samplers, 2+ leads, order keepers >= half the desks, doorstep samplers."""
    workers = rows(area, "workers")
    points = rows(area, "points")
    assert all(w["kind"] in KINDS and set(split(w["skills"])) <= set(SKILLS) and w["skills"] for w in workers)
    by_community: dict[str, list[dict[str, str]]] = defaultdict(list)
    for w in workers:
        by_community[w["community_id"]].append(w)
    desks: Counter[str] = Counter()
    for p in points:
        desks[p["community_id"]] += int(p["desks"])

    def count(group: list[dict[str, str]], skill: str) -> int:
        return sum(skill in split(w["skills"]) for w in group)

    communities = {b["community_id"] for b in rows(area, "buildings")}
    for cid in communities | ({""} if desks[""] else set()):
        group = by_community[cid]
        assert count(group, "register") >= count(group, "sample"), cid
        assert count(group, "lead") >= 2, cid
        assert count(group, "order") >= math.ceil(desks[cid] / 2), cid
        assert count(group, "sample") >= 1, cid
    for cid in communities:
        doorstep = [w for w in by_community[cid] if {"sample", "doorstep"} <= set(split(w["skills"]))]
        assert doorstep, cid
        kinds = {w["kind"] for w in by_community[cid]}
        assert {"medical", "community", "cadre", "volunteer"} <= kinds, cid


def test_ids_unique_and_readable(area: Path) -> None:
    """Every id is unique in its file, and ids follow the documented patterns."""
    buildings = rows(area, "buildings")
    residents = rows(area, "residents")
    points = rows(area, "points")
    workers = rows(area, "workers")
    for table, column in (
        (buildings, "building_id"),
        (residents, "resident_id"),
        (points, "point_id"),
        (workers, "worker_id"),
    ):
        ids = [r[column] for r in table]
        assert len(ids) == len(set(ids)), column
    assert all(re.fullmatch(r"C\d{4}-K\d{2}-B\d{3}", b["building_id"]) for b in buildings)
    assert all(re.fullmatch(r"C\d{4}", b["community_id"]) for b in buildings)
    assert all(
        re.fullmatch(r"R\d{8}", r["resident_id"]) and re.fullmatch(r"H\d{8}", r["household_id"]) for r in residents
    )
    assert all(re.fullmatch(r"P\d{5}", p["point_id"]) for p in points)
    assert all(re.fullmatch(r"W\d{6}", w["worker_id"]) for w in workers)


def test_references_resolve(area: Path) -> None:
    """Residents' buildings, points' and workers' communities and compounds, and zone targets all exist."""
    buildings = rows(area, "buildings")
    building_ids = {b["building_id"] for b in buildings}
    compound_community: dict[str, set[str]] = defaultdict(set)
    for b in buildings:
        compound_community[b["compound_id"]].add(b["community_id"])
        assert b["building_id"].startswith(b["compound_id"] + "-")
        assert b["compound_id"].startswith(b["community_id"] + "-")
        assert 6 <= int(b["floors"]) <= 33
    assert all(len(c) == 1 for c in compound_community.values())
    communities = {b["community_id"] for b in buildings}
    assert all(r["building_id"] in building_ids for r in rows(area, "residents"))
    for p in rows(area, "points"):
        assert p["community_id"] in communities | {""}
        if p["compound_id"]:
            assert compound_community[p["compound_id"]] == {p["community_id"]}
    assert all(w["community_id"] in communities | {""} for w in rows(area, "workers"))
    targets = {"community": communities, "compound": set(compound_community), "building": building_ids}
    for z in rows(area, "zones"):
        assert z["level"] in LEVELS[1:] and z["scope"] in SCOPES
        assert z["target_id"] in targets[z["scope"]], z


def test_buildings_reach_a_usable_point(area: Path) -> None:
    """At least 99 % of buildings have a point they may use within max_walk_m."""
    buildings = rows(area, "buildings")
    points = rows(area, "points")
    lat = np.array([float(p["lat"]) for p in points])
    lon = np.array([float(p["lon"]) for p in points])
    reached = 0
    for b in buildings:
        usable = np.array(
            [
                (not p["community_id"] and not p["compound_id"])
                or (p["community_id"] == b["community_id"] and p["compound_id"] in ("", b["compound_id"]))
                for p in points
            ]
        )
        distance = haversine_m(float(b["lat"]), float(b["lon"]), lat[usable], lon[usable])
        reached += bool(len(distance)) and distance.min() <= 1500
    assert reached >= 0.99 * len(buildings)


def test_buildings_near_their_compound_and_hangzhou(area: Path) -> None:
    """Buildings lie within about 300 m of their compound's centre, around Hangzhou."""
    by_compound: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for b in rows(area, "buildings"):
        by_compound[b["compound_id"]].append((float(b["lat"]), float(b["lon"])))
    for compound, where in by_compound.items():
        coords = np.array(where)
        centre = coords.mean(axis=0)
        assert haversine_m(centre[0], centre[1], coords[:, 0], coords[:, 1]).max() <= 600, compound
        assert (np.abs(coords - [30.27, 120.15]) < 0.2).all()


def test_capacity_for_each_community(area: Path) -> None:
    """Each community's own points can sample all its residents in the round's opening hours."""
    settings = settings_for("x")
    residents: Counter[str] = Counter()
    community_of = {b["building_id"]: b["community_id"] for b in rows(area, "buildings")}
    for r in rows(area, "residents"):
        residents[community_of[r["building_id"]]] += 1
    capacity: Counter[str] = Counter()
    for p in rows(area, "points"):
        if p["community_id"]:
            capacity[p["community_id"]] += int(p["desks"]) * open_slots(p["hours"], settings) * 60
    for cid, count in residents.items():
        assert capacity[cid] >= count, cid


def test_zones_in_small_areas(community: tuple[Path, dict[str, int]], street: tuple[Path, dict[str, int]]) -> None:
    """The community has a sealed building and a controlled compound; the street has every kind of zone."""
    zones = {(z["level"], z["scope"]) for z in rows(community[0], "zones")}
    assert {("sealed", "building"), ("controlled", "compound")} <= zones
    street_zones = rows(street[0], "zones")
    kinds = {(z["level"], z["scope"]) for z in street_zones}
    assert {
        ("sealed", "building"),
        ("sealed", "compound"),
        ("controlled", "compound"),
        ("precaution", "community"),
    } <= kinds
    inner = {p["compound_id"] for p in rows(street[0], "points") if p["compound_id"]}
    controlled = {z["target_id"] for z in street_zones if z["level"] == "controlled"}
    assert controlled - inner, "a controlled compound without its own point"
    assert controlled & inner, "a controlled compound with its own point"


def test_demo_example_is_the_generator_output(community: tuple[Path, dict[str, int]]) -> None:
    """fixtures/examples/demo-community is exactly generate("community", seed=1)."""
    for name in FILES:
        assert (EXAMPLES / "demo-community" / name).read_bytes() == (community[0] / name).read_bytes(), name


@pytest.mark.parametrize("example", ["demo-community", "hangzhou-gongshu"])
def test_examples_import(example: str) -> None:
    """The checked-in examples pass the project's ledger import without problems."""
    from scheduler.ledger import read_scenario

    scenario = read_scenario(EXAMPLES / example, salt=b"test")
    summary = scenario.summary()
    assert summary["residents"] == len(rows(EXAMPLES / example, "residents"))
    assert summary["zones"] >= 2
    assert not scenario.warnings


def test_gcj_conversion_round_trip() -> None:
    """gcj_to_wgs inverts wgs_to_gcj to a decimetre around Hangzhou, where the shift is hundreds of metres."""
    lat, lon = np.meshgrid(np.linspace(29.8, 30.6, 9), np.linspace(119.5, 120.6, 9))
    gcj_lat, gcj_lon = wgs_to_gcj(lat.ravel(), lon.ravel())
    shift = haversine_m(lat.ravel(), lon.ravel(), gcj_lat, gcj_lon)
    assert (shift > 200).all() and (shift < 1000).all()
    back_lat, back_lon = gcj_to_wgs(gcj_lat, gcj_lon)
    assert haversine_m(lat.ravel(), lon.ravel(), back_lat, back_lon).max() < 0.1


def test_hangzhou_example_keeps_the_real_points() -> None:
    """The Hangzhou example's points are real: names and hours as published, WGS-84 of their GCJ-02 place."""
    import json

    if not DEFAULT_GEOJSON.exists():
        pytest.skip(f"{DEFAULT_GEOJSON} is not here")
    features = json.loads(DEFAULT_GEOJSON.read_text(encoding="utf-8"))["features"]
    real = {f"P{f['properties']['ID']}": f for f in features}
    points = rows(EXAMPLES / "hangzhou-gongshu", "points")
    assert 20 <= len(points) <= 30
    for p in points:
        feature = real[p["point_id"]]
        assert p["name"] == feature["properties"]["名称"]
        assert p["hours"] == feature["properties"]["工作时间"]
        parse_hours(p["hours"])
        gcj_lon, gcj_lat = feature["geometry"]["coordinates"]
        lat, lon = wgs_to_gcj(np.array([float(p["lat"])]), np.array([float(p["lon"])]))
        assert haversine_m(lat[0], lon[0], gcj_lat, gcj_lon) < 2.0
    assert "CC-BY 4.0" in (EXAMPLES / "hangzhou-gongshu" / "SOURCE.md").read_text(encoding="utf-8")


def test_hangzhou_build_is_reproducible(tmp_path: Path) -> None:
    """fixtures.hangzhou.build() rewrites the checked-in Hangzhou example byte for byte."""
    if not DEFAULT_GEOJSON.exists():
        pytest.skip(f"{DEFAULT_GEOJSON} is not here")
    build(DEFAULT_GEOJSON, tmp_path)
    for name in (*FILES, "SOURCE.md"):
        assert (tmp_path / name).read_bytes() == (EXAMPLES / "hangzhou-gongshu" / name).read_bytes(), name
