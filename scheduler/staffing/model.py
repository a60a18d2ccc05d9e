"""One point's staffing model: duty templates as booleans, coverage and the rule families on top."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model

from scheduler.doorstep.duties import Calendar
from scheduler.staffing.templates import Templates

Terms = dict[str, cp_model.LinearExprT]


@dataclass
class PointModel:
    """The CP-SAT model of one point and what the rule families share."""

    point: int  # row in scenario.points
    desks: int  # desks the point has
    need: np.ndarray  # int64 per slot: desks the assignment's residents need
    open_slots: np.ndarray  # int64: the slots the point is open
    templates: Templates
    kind: np.ndarray  # int64 per template: KINDS index of its worker
    skills: np.ndarray  # int64 per template: how many point roles its worker may fill
    calendar: Calendar
    order_per_desk: float
    previous: dict[tuple[int, int], np.ndarray] | None  # (worker, role) → bool per slot on duty before
    model: cp_model.CpModel = field(default_factory=cp_model.CpModel)
    chosen: list[cp_model.IntVar] = field(default_factory=list)  # one boolean per template

    on_duty: dict[tuple[int, int], list[int]] = field(default_factory=dict)  # (role, slot) → templates

    def __post_init__(self) -> None:
        self.chosen = [self.model.new_bool_var(f"y{i}") for i in range(len(self.templates))]
        tp = self.templates
        for i in range(len(tp)):
            for t in range(int(tp.first[i]), int(tp.stop[i])):
                self.on_duty.setdefault((int(tp.role[i]), t), []).append(i)

    def covering(self, role: int, slot: int) -> list[cp_model.IntVar]:
        """Template booleans of `role` on duty for the whole of `slot`."""
        return [self.chosen[i] for i in self.on_duty.get((role, slot), ())]

