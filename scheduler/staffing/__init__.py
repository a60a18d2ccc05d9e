"""Staffing: workers and cadres on duty at the points, covering the desks the assignment opens.

`staff_points` is the entry: requirements from the residents per point and slot
(`requirements`), each worker given one home point (`allocate`), then one small CP-SAT
model per point over whole-duty templates (`templates`), built from one module per rule
family (`coverage`, `duties`, `preferences`, `balance`, `stability`), each returning named
objective terms. What the staff on duty can sample (`capacity`) goes back to the
assignment, and what the staff cannot cover is reported by community, time and role
(`shortfall`).
"""

from scheduler.staffing.solve import Staffing, staff_points

__all__ = ["Staffing", "staff_points"]
