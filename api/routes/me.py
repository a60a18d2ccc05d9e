"""The caller's own token."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ReaderDep
from api.problems import problems
from api.schemas import Me

router = APIRouter(tags=["service"])


@router.get("/me", response_model=Me, summary="The caller's role and communities", responses=problems(401, 403))
def me(principal: ReaderDep) -> Me:
    return Me(
        name=principal.name,
        role=principal.role,  # type: ignore[arg-type]
        communities=sorted(principal.communities),
        street=principal.street,
    )
