"""Doorstep sampling: teams of doorstep workers, their duties, and routes through sealed and bedridden homes.

`plan_doorstep` plans the door visits of given households; `apply_doorstep` writes a plan
into a schedule. See `plan` for how teams are formed and `routing` for the model.
"""

from scheduler.doorstep.baseline import nearest_neighbour
from scheduler.doorstep.plan import DoorstepPlan, apply_doorstep, plan_doorstep

__all__ = ["DoorstepPlan", "apply_doorstep", "nearest_neighbour", "plan_doorstep"]
