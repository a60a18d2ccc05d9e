"""Site selection: proven optima of the OR-Library pmedcap instances, hand-made cases, the `sched site` command."""

from __future__ import annotations

import csv
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scheduler.domain import NO_REF, Scenario
from scheduler.ledger import read_scenario
from scheduler.limits import SolverLimits
from scheduler.siting.assign import assign, transport, whole
from scheduler.siting.candidates import candidate_sites
from scheduler.siting.demand import scenario_problem
from scheduler.siting.output import POINT_COLUMNS
from scheduler.siting.plan import site_scenario
from scheduler.siting.pmedcap import read_pmedcap
from scheduler.siting.problem import SitingProblem
from scheduler.siting.solve import SitingInfeasible, open_at_most
from scheduler.siting.swaps import tabu_swaps
from tests.ledgers import EXAMPLES, REPO, write_ledger

PMEDCAP = REPO / "fixtures" / "pmedcap"  # copied from ../shared/data/pmedcap (MIT, see its SOURCE.md)
PMEDCAP_LIMITS = SolverLimits(seed=0, time_limit_s=45.0, workers=2)  # pmedcap08: found in ~4 s, proven in ~25-30 s
LIMITS = SolverLimits(seed=0, time_limit_s=20.0, workers=2)


def pmedcap_files() -> list[Path]:
    if not PMEDCAP.is_dir():
        return []
    return sorted(PMEDCAP.glob("pmedcap*.zip"))


def test_pmedcap_data_is_present() -> None:
    """The 20 pmedcap instances are in fixtures/pmedcap."""
    if len(pmedcap_files()) != 20:
        pytest.fail(f"expected the 20 pmedcap zips in {PMEDCAP}; found {len(pmedcap_files())}")


@pytest.mark.slow
@pytest.mark.parametrize("number", range(1, 21), ids=lambda n: f"pmedcap{n:02d}")
def test_pmedcap_proven_optimum(number: int) -> None:
    """Solving without the header's optimum finds exactly that optimum, as a checked feasible solution."""
    path = PMEDCAP / f"pmedcap{number:02d}.zip"
    if not path.exists():
        pytest.fail(f"{path} is missing: the pmedcap data belongs in fixtures/pmedcap")
    instance = read_pmedcap(path)
    result = open_at_most(instance.problem, instance.medians, PMEDCAP_LIMITS)

    # Check the answer independently of the solver: medians, whole customers, capacity, floored distances.
    problem, served = instance.problem, result.assignment.served
    used = served > 0
    customer, median = problem.pair_node[used], problem.pair_site[used]
    assert sorted(customer.tolist()) == list(range(problem.n_nodes))
    assert (served[used] == problem.demand[customer]).all()
    assert set(median.tolist()) <= set(result.assignment.open_sites().tolist())
    assert len(result.assignment.open_sites()) <= instance.medians
    assert (np.bincount(median, weights=problem.demand[customer], minlength=problem.n_sites) <= 120).all()
    xy = instance.xy
    cost = int(np.floor(np.sqrt(((xy[customer] - xy[median]) ** 2).sum(axis=1))).sum())
    assert cost == result.objective == instance.published_optimum
    assert result.bound <= result.objective


def test_tabu_swaps_cross_the_plateau_to_pmedcap08s_optimum() -> None:
    """From pmedcap08's medians costing 822, two swaps from the optimum 820, the tabu walk reaches 820, alike twice."""
    problem = read_pmedcap(PMEDCAP / "pmedcap08.zip").problem
    is_open = np.zeros(problem.n_sites, dtype=bool)
    is_open[[1, 15, 18, 29, 46]] = True  # the relaxation's best start; the optimum opens 1, 15, 24, 29, 39
    limits = SolverLimits(seed=0, time_limit_s=2.0, workers=1)
    start = assign(problem, is_open, limits)
    assert start is not None and start.cost == 822
    found = [tabu_swaps(problem, start, limits, time_limit_s=60.0) for _ in range(2)]
    assert [f.cost for f in found] == [820, 820]
    assert (found[0].open == found[1].open).all() and (found[0].served == found[1].served).all()
    assert found[0].cost == int((problem.pair_cost * (found[0].served > 0)).sum())


def split_problem(demand: list[int], capacity: list[int], unit_cost: list[list[int | None]]) -> SitingProblem:
    """A split-demand problem from a node × site table of costs per unit (None: out of reach)."""
    nodes, sites, costs = [], [], []
    for i, row in enumerate(unit_cost):
        for s, c in enumerate(row):
            if c is not None:
                nodes.append(i)
                sites.append(s)
                costs.append(c * demand[i])
    return SitingProblem.build(np.array(demand), np.array(capacity), nodes, sites, costs, single_source=False)


def test_capacity_binding_splits_the_cheaper_node() -> None:
    """With room for 4 of 6 people at the near site, the 2 extra are those who walk least to the far one."""
    problem = split_problem([3, 3], [4, 10], [[1, 5], [1, 3]])
    result = open_at_most(problem, 2, LIMITS)
    assert result.objective == 3 * 1 + 1 * 1 + 2 * 3 == result.bound
    assert result.assignment.served.tolist() == [3, 0, 1, 2]
    assert open_at_most(problem, 1, LIMITS).objective == 3 * 5 + 3 * 3


def test_capacity_binding_whole_nodes() -> None:
    """Whole nodes cannot split: the node with the cheaper far site goes there whole."""
    problem = SitingProblem.build(
        np.array([3, 3]), np.array([4, 10]), [0, 0, 1, 1], [0, 1, 0, 1], [1, 5, 1, 3], single_source=True
    )
    result = open_at_most(problem, 2, LIMITS)
    assert result.objective == 1 + 3 == result.bound


def test_too_few_sites_is_a_clear_error() -> None:
    """Asking for fewer sites than capacity allows fails with the number needed, before any search."""
    problem = split_problem([3, 3], [4, 5], [[1, 5], [1, 3]])
    with pytest.raises(SitingInfeasible, match=r"open at most 1: .* hold 5 but demand is 6; at least 2 sites"):
        open_at_most(problem, 1, LIMITS)


def test_reach_makes_k_infeasible() -> None:
    """Two nodes that share no site cannot be served by one site, whatever its capacity."""
    problem = split_problem([1, 1], [10, 10], [[1, None], [None, 1]])
    with pytest.raises(SitingInfeasible, match="open at most 1: no choice of sites serves everyone"):
        open_at_most(problem, 1, LIMITS)


def brute_force(problem: SitingProblem, max_open: int) -> int:
    best = None
    for sites in itertools.combinations(range(problem.n_sites), max_open):
        is_open = np.zeros(problem.n_sites, dtype=bool)
        is_open[list(sites)] = True
        if problem.single_source:
            served = whole(problem, is_open, np.zeros(problem.n_pairs, dtype=bool), LIMITS)
            if served is None:
                continue
            cost = int(problem.pair_cost[served > 0].sum())
        else:
            served, unserved = transport(problem, is_open)
            if unserved:
                continue
            cost = int((problem.pair_cost // problem.demand[problem.pair_node] * served).sum())
        best = cost if best is None else min(best, cost)
    assert best is not None
    return best


@pytest.mark.parametrize("single_source", [False, True], ids=["split", "whole"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matches_enumeration_on_random_instances(seed: int, single_source: bool) -> None:
    """On random small instances the optimum equals full enumeration of the open sets, and the bound is proven."""
    rng = np.random.default_rng(seed)
    n_nodes, n_sites, k = 14, 7, 3
    xy_nodes, xy_sites = rng.integers(0, 100, (n_nodes, 2)), rng.integers(0, 100, (n_sites, 2))
    demand = rng.integers(1, 7, n_nodes)
    capacity = rng.integers(30, 45, n_sites)
    distance = np.floor(np.sqrt(((xy_nodes[:, None] - xy_sites[None]) ** 2).sum(axis=2))).astype(np.int64)
    node, site = np.divmod(np.arange(n_nodes * n_sites), n_sites)
    near = distance.ravel() <= 70
    cost = distance.ravel() * demand[node]
    problem = SitingProblem.build(demand, capacity, node[near], site[near], cost[near], single_source=single_source)
    result = open_at_most(problem, k, LIMITS)
    assert result.objective == brute_force(problem, k)
    assert result.bound == result.objective


# Three buildings of one community on a line: B1 and B2 1 km apart, B3 2 km beyond B2. Every point is
# public, stands at a building and holds far more people than live here.
LINE = {
    "scenario.toml": 'name = "line"\nstart = 2022-03-14T07:00:00\n',
    "buildings.csv": "building_id,community_id,compound_id,lat,lon\n"
    "B1,C1,K1,30.0,120.0\nB2,C1,K1,30.0,120.010385\nB3,C1,K2,30.0,120.031155\n",
    "residents.csv": "resident_id,household_id,building_id\nR1,H1,B1\nR2,H2,B2\nR3,H2,B2\nR4,H3,B3\nR5,H4,B3\n",
    "points.csv": "point_id,name,community_id,compound_id,lat,lon,desks,hours,accessible\n"
    "P1,,,,30.0,120.0,1,24小时,\nP2,,,,30.0,120.010385,1,24小时,\nP3,,,,30.0,120.031155,1,24小时,\n",
    "workers.csv": "",
    "zones.csv": "",
}


def line(tmp_path: Path, points: str | None = None) -> Scenario:
    folder = write_ledger(tmp_path / "line", {**LINE, **({"points.csv": points} if points else {})})
    for name in ("workers.csv", "zones.csv"):
        (folder / name).unlink(missing_ok=True)
    return read_scenario(folder, salt=b"test")


def test_walking_radius_binds_the_fewest(tmp_path: Path) -> None:
    """One point could hold everyone, but B3 is beyond max_walk_m of the others: two points, the second at B2."""
    outcome = site_scenario(line(tmp_path), max_open=None, limits=LIMITS)
    assert [outcome.siting.candidates.points.ids[s] for s in outcome.chosen] == ["P2", "P3"]
    assert outcome.result.objective == outcome.result.bound == 2
    assert outcome.result.terms["walk"] == 1000  # R1 walks 1 km; B2 and B3 are at their points


def test_scenario_capacity_and_reach_together(tmp_path: Path) -> None:
    """A point at B3 that holds one person leaves B3's other walker with no point in reach: a clear error."""
    scenario = line(tmp_path)
    problem = scenario_problem(scenario, candidate_sites(scenario, 3)).problem
    capped = SitingProblem.build(
        problem.demand,
        np.array([1000, 1000, 1]),
        problem.pair_node,
        problem.pair_site,
        problem.pair_cost,
        single_source=False,
    )
    with pytest.raises(SitingInfeasible, match="no choice of sites serves everyone"):
        open_at_most(capped, 3, LIMITS)  # B3's second walker has no other point within 1.5 km


def test_generated_sites_follow_the_community_rules() -> None:
    """Generated sites stand at buildings, serve only their community, and come first where walkers are far."""
    scenario = read_scenario(EXAMPLES / "demo-community", salt=b"test")
    sites = candidate_sites(scenario, len(scenario.points) + 5)
    assert sites.generated.sum() == 5
    new = np.flatnonzero(sites.generated)
    buildings = sites.building[new]
    assert (sites.points.community[new] == scenario.buildings.community[buildings]).all()
    assert (sites.points.compound[new] == NO_REF).all()
    assert np.allclose(sites.points.lat[new], scenario.buildings.lat[buildings])
    assert len(set(sites.points.ids)) == len(sites.points.ids)


def sched(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "scheduler", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def test_cli_site_on_the_demo_writes_a_solvable_scenario(tmp_path: Path) -> None:
    """`sched site` picks points for the demo, writes them in contract columns, and the result solves and checks."""
    out = tmp_path / "sited"
    result = sched(
        "site", str(EXAMPLES / "demo-community"), "--open-at-most", "2", "--candidates", "8", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert "points chosen" in result.stdout and "walk_m_lower_bound" in result.stdout
    with (out / "points.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0].keys()) == POINT_COLUMNS and 1 <= len(rows) <= 2
    figures = json.loads((out / "siting.json").read_text(encoding="utf-8"))
    assert figures["points_chosen"] == len(rows)
    assert figures["walk_m_lower_bound"] <= figures["walk_m_total"]

    solved = sched("solve", str(out), "--out", str(tmp_path / "schedule"))
    assert solved.returncode == 0, solved.stderr
    checked = sched("check", str(out), str(tmp_path / "schedule"))
    assert checked.returncode == 0, checked.stdout
    kpis = json.loads((tmp_path / "schedule" / "kpis.json").read_text(encoding="utf-8"))
    assert kpis["unserved"] == []


def test_cli_site_infeasible_k_exits_with_the_reason(tmp_path: Path) -> None:
    """Asking the line for one point fails with exit 1 and says why, writing nothing."""
    folder = write_ledger(tmp_path / "line", LINE)
    for name in ("workers.csv", "zones.csv"):
        (folder / name).unlink(missing_ok=True)
    result = sched("site", str(folder), "--open-at-most", "1", "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "open at most 1: no choice of sites serves everyone" in result.stderr
    assert not (tmp_path / "out").exists()


def test_same_seed_same_points(tmp_path: Path) -> None:
    """Two runs with the same ledger and seed choose the same points with the same walking."""
    scenario = read_scenario(EXAMPLES / "demo-community", salt=b"test")
    first = site_scenario(scenario, max_open=3, candidates=10, limits=LIMITS)
    second = site_scenario(scenario, max_open=3, candidates=10, limits=LIMITS)
    assert first.chosen.tolist() == second.chosen.tolist()
    assert first.result.terms == second.result.terms
