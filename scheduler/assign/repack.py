"""CP-SAT, where households' integrality bites: re-pack one point's slots to fit a household.

The packing fills slots household by household; when a household finds every slot of
every point it may use too full for it although a point has enough free places in all,
the places are scattered over slots. This re-packs that point's households (and the
newcomer) into its open slots exactly, moving as few of them as possible.

Most such households fit after a short chain of moves: the newcomer takes a slot, one of
that slot's households moves to another slot, and so on until a household lands in a slot
with room. The shortest chain is searched first (breadth first over slots; milliseconds);
CP-SAT re-packs the whole point only when no chain of at most MAX_CHAIN moves exists.
"""

from __future__ import annotations

import numpy as np
from ortools.sat.python import cp_model

from scheduler.limits import SolverLimits

REPACK_DETERMINISTIC_S = 0.5  # a point's households, a few thousand booleans: ample for a feasible re-packing
MAX_CHAIN = 4  # moves of the chain search before the whole point is re-packed


def repack(
    sizes: np.ndarray, current: np.ndarray, capacity: np.ndarray, slots: np.ndarray, limits: SolverLimits
) -> np.ndarray | None:
    """Slots for households of `sizes` among `slots`, at most `capacity[k]` persons in `slots[k]`.

    `current` is each household's slot now (NO_REF for the newcomer). Returns the new
    slot per household, moving the fewest, or None when no packing exists or none was
    found within the time limit.
    """
    chained = move_chain(sizes, current, capacity, slots)
    return chained if chained is not None else repack_exactly(sizes, current, capacity, slots, limits)


def repack_exactly(
    sizes: np.ndarray, current: np.ndarray, capacity: np.ndarray, slots: np.ndarray, limits: SolverLimits
) -> np.ndarray | None:
    """`repack` by CP-SAT over the whole point: every household may move, the fewest do."""
    model = cp_model.CpModel()
    n, m = len(sizes), len(slots)
    x = [[model.new_bool_var(f"h{h}_s{t}") for t in range(m)] for h in range(n)]
    for h in range(n):
        model.add_exactly_one(x[h])
    for t in range(m):
        model.add(sum(int(sizes[h]) * x[h][t] for h in range(n)) <= int(capacity[t]))
    stays = []
    for h, slot in enumerate(current.tolist()):
        if slot in slots:
            k = int(np.flatnonzero(slots == slot)[0])
            stays.append(x[h][k])
            model.add_hint(x[h][k], True)
    model.maximize(sum(stays))
    solver = cp_model.CpSolver()
    solver.parameters.random_seed = limits.seed
    # The deterministic limit decides (same input, same answer); the wall clock is only a guard.
    solver.parameters.max_deterministic_time = min(limits.time_limit_s, REPACK_DETERMINISTIC_S)
    solver.parameters.max_time_in_seconds = limits.time_limit_s * 10
    solver.parameters.num_workers = limits.workers
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    return np.array([slots[next(t for t in range(m) if solver.value(x[h][t]))] for h in range(n)], dtype=np.int32)


def move_chain(sizes: np.ndarray, current: np.ndarray, capacity: np.ndarray, slots: np.ndarray) -> np.ndarray | None:
    """The newcomer (last household) placed by the shortest chain of single moves, or None.

    A chain puts the newcomer into a slot; if that slot lacks d places, one of its households
    with at least d members (the smallest such: it needs the least room where it goes) moves
    to another slot, and so on, each slot used once, until a move lands where there is room.
    Breadth first: the chain found moves the fewest households of the chains tried (one move,
    when it exists, is the fewest any re-packing can make). Deterministic: slots in `slots`
    order, households by size then row.
    """
    position = {int(t): k for k, t in enumerate(slots.tolist())}
    kept = current[:-1].tolist()
    if any(t not in position for t in kept):
        return None  # a household outside the open slots must move anyway: the whole re-packing decides
    n_slots = len(slots)
    where = np.array([position[t] for t in kept], dtype=np.int64)
    free = capacity.astype(np.int64) - np.bincount(where, weights=sizes[:-1], minlength=n_slots).astype(np.int64)
    order = np.lexsort((np.arange(len(where)), sizes[:-1], where))  # by slot, then size, then row
    bounds = np.searchsorted(where[order], np.arange(n_slots + 1))

    # A state: slot k must take `need` persons; `chain` = the newcomer's slot, then (household, to) moves.
    State = tuple[int, int, tuple[int, ...], tuple[tuple[int, int], ...]]
    frontier: list[State] = [(k, int(sizes[-1]), (k,), ()) for k in range(n_slots)]
    seen = {(k, int(sizes[-1])) for k in range(n_slots)}
    for _ in range(MAX_CHAIN):
        following: list[State] = []
        for k, need, used, moves in frontier:
            members = order[bounds[k] : bounds[k + 1]]
            at = int(np.searchsorted(sizes[members], need - free[k]))
            if at == len(members):
                continue  # no household of slot k frees enough by leaving
            mover = int(members[at])
            persons = int(sizes[mover])
            for to in range(n_slots):
                if to in used:
                    continue
                chain = (*moves, (mover, to))
                if free[to] >= persons:
                    placed = current.copy()
                    placed[-1] = slots[used[0]]
                    for household, slot in chain:
                        placed[household] = slots[slot]
                    return placed.astype(np.int32)
                if (to, persons) not in seen:
                    seen.add((to, persons))
                    following.append((to, persons, (*used, to), chain))
        frontier = following
    return None
