"""Planners' what-if scenarios (指挥部): their endpoints come with the planner issue.

The router is mounted at /api/v1/planner and lets through planner and admin tokens only.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import require

router = APIRouter(prefix="/planner", tags=["planners"], dependencies=[Depends(require("planner", "admin"))])
