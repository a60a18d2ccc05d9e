"""Small hand-written ledgers for tests, and a way to write them with one file changed."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "fixtures" / "examples"

# A ledger with the awkward cases: empty optional cells, a public point, an in-compound
# point, a final `X` in an id number, a +86 phone, Chinese names and hours, all three zones.
TINY: dict[str, str] = {
    "scenario.toml": 'name = "tiny"\nstart = 2022-03-14T07:00:00\nslot_minutes = 20\nmax_shift_hours = 3.5\n',
    "buildings.csv": "building_id,community_id,compound_id,lat,lon,floors\n"
    "B1,C1,K1,34.26,108.94,6\nB2,C1,K2,34.27,108.95,\nB3,C2,K3,34.28,108.96,18\n",
    "residents.csv": "resident_id,household_id,building_id,birth_year,flags,id_number,phone\n"
    "R1,H1,B1,1950,elderly_alone;disabled,610102195001011234,13812345678\n"
    "R2,H2,B2,,,61010219800101123X,+86 139 0000 1111\n"
    "R3,H2,B2,2020,infant,,\n"
    "R4,H3,B3,1990,pregnant,610102199001014321,15011112222\n",
    "points.csv": "point_id,name,community_id,compound_id,lat,lon,desks,hours,accessible\n"
    "P1,东门广场,,,34.26,108.94,2,07:00-12:00;14:00-20:00,true\n"
    "P2,,C1,K1,34.27,108.95,1,24小时,\n"
    "P3,二号点,C2,,34.28,108.96,3,每日;8：00-12：00,false\n",
    "workers.csv": "worker_id,name,kind,skills,community_id,available\n"
    "W1,张三,medical,sample;doorstep,,07:00-19:00\n"
    "W2,,cadre,lead;order,C1,全天\n"
    "W3,李四,volunteer,register,C2,08:00-12:00\n",
    "zones.csv": "level,scope,target_id\nsealed,building,B2\nprecaution,community,C1\ncontrolled,compound,K3\n",
}


def write_ledger(folder: Path, changes: dict[str, str] | None = None, encoding: str = "utf-8") -> Path:
    """Write TINY into `folder`, with whole files replaced (or removed, for "") by `changes`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in {**TINY, **(changes or {})}.items():
        if text:
            (folder / name).write_bytes(text.encode(encoding))
    return folder
