"""Duties (rule 7): one duty at a time with a break between, and the day's hours.

Templates already lie inside the worker's free slots and are no longer than a shift. Two
templates of a worker may both be chosen only if one ends at least `min_break_minutes`
before the other starts, so chosen duties never touch (ruling 6 would merge them): at
every slot at most one of the worker's templates, each stretched by the break, covers it.
Few, long duties rather than fragments: every duty costs (`duties`), and so does every
slot on duty (`staff_slots`).
"""

from __future__ import annotations

import numpy as np

from scheduler.staffing.model import PointModel, Terms


def build(pm: PointModel) -> Terms:
    m, tp, cal = pm.model, pm.templates, pm.calendar
    reach = tp.stop + cal.break_slots
    for w in np.unique(tp.worker).tolist():
        mine = np.flatnonzero(tp.worker == w)
        for t in range(int(tp.first[mine].min()), int(tp.stop[mine].max())):
            here = mine[(tp.first[mine] <= t) & (reach[mine] > t)]
            if len(here) > 1:
                m.add_at_most_one(pm.chosen[i] for i in here.tolist())
        room = cal.day_limit - cal.day_used(w)
        spans = zip(tp.first[mine], tp.stop[mine], strict=True)
        minutes = np.stack([cal.day_minutes[a:b].sum(axis=0) for a, b in spans])
        for day in np.flatnonzero(minutes.sum(axis=0) > room).tolist():
            m.add(sum(int(minutes[k, day]) * pm.chosen[i] for k, i in enumerate(mine.tolist())) <= int(room[day]))
    return {
        "duties": sum(pm.chosen),
        "staff_slots": sum(int(n) * y for n, y in zip(tp.slots.tolist(), pm.chosen, strict=True)),
    }


def evaluate(pm: PointModel, chosen: list[int]) -> dict[str, int]:
    return {"duties": len(chosen), "staff_slots": int(pm.templates.slots[chosen].sum())}
