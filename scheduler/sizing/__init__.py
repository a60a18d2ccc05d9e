"""Staff sizing: how many samplers and cadres to call in to finish the round within N hours.

`size_staff` is the entry: the round cut to N hours, the desks bound (`desks`), then
rounds of door teams (`door`), staffing with the pool so far and a shift-covering model
per point (`shifts`, `cover`) until nothing is lacking, the called-in workers as ledger
rows (`workers`), and a verification through `scheduler.plan.solve_schedule` and the
validator. The bottleneck is named: desks at points (staff cannot help), door teams, or
the role and hours the staff lack most.
"""

from scheduler.sizing.solve import Sizing, size_staff

__all__ = ["Sizing", "size_staff"]
