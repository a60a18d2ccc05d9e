"""Role-scoped bearer tokens: created and revoked by `sched token`, checked on every request.

A token is `sched_` + 43 random URL-safe characters; the database keeps only its SHA-256 (a token
has 256 random bits, so an unsalted digest cannot be reversed), so a stolen table grants nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from store.models import utcnow

ROLES: tuple[str, ...] = ("coordinator", "planner", "admin")
Role = Literal["coordinator", "planner", "admin"]
TOKEN_PREFIX = "sched_"
API_TOKEN = SQLModel.metadata.tables["api_token"]


class TokenError(ValueError):
    """A token that cannot be created as asked (unknown role, a coordinator without communities)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's role and, for a coordinator, the communities it may see."""

    token_id: int
    name: str
    role: str
    communities: frozenset[str]  # empty for planners and admins, who see every community
    street: str | None = None

    @property
    def scoped(self) -> bool:
        """True when the caller sees only some communities (a coordinator)."""
        return self.role == "coordinator"

    def sees(self, community_id: str | None) -> bool:
        return not self.scoped or community_id in self.communities


class TokenPublic(BaseModel):
    """A token as listed: never the token itself."""

    id: int
    name: str
    role: str
    communities: list[str]
    street: str | None
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    engine: Engine,
    *,
    name: str,
    role: str,
    communities: list[str] | None = None,
    street: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[str, TokenPublic]:
    """A new token (returned once, in clear) and its stored record."""
    scope = sorted(set(communities or []))
    if role not in ROLES:
        raise TokenError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if role == "coordinator" and not scope:
        raise TokenError("a coordinator token needs at least one community (--community)")
    if role != "coordinator" and (scope or street):
        raise TokenError(f"a {role} token sees every community; --community and --street are for coordinators")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    values = {
        "name": name,
        "role": role,
        "communities": scope,
        "street": street,
        "token_hash": token_digest(token),
        "prefix": token[: len(TOKEN_PREFIX) + 4],
        "created_at": utcnow(),
        "expires_at": expires_at,
        "revoked_at": None,
    }
    with engine.begin() as conn:
        token_id = conn.execute(API_TOKEN.insert().values(**values).returning(API_TOKEN.c.id)).scalar_one()
    return token, TokenPublic.model_validate({"id": token_id, **values})


def list_tokens(engine: Engine) -> list[TokenPublic]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(API_TOKEN).order_by(API_TOKEN.c.id)).mappings().all()
    return [TokenPublic.model_validate(dict(row)) for row in rows]


def revoke_token(engine: Engine, token_id: int) -> bool:
    """Revoke a token; False when there is no such token or it was already revoked."""
    with engine.begin() as conn:
        done = conn.execute(
            API_TOKEN.update()
            .where(API_TOKEN.c.id == token_id, API_TOKEN.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    return done.rowcount == 1


def authenticate(conn: Connection, token: str) -> Principal | None:
    """The principal of a valid token: known, not revoked, not expired."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        return None
    row = conn.execute(
        sa.select(
            API_TOKEN.c.id, API_TOKEN.c.name, API_TOKEN.c.role, API_TOKEN.c.communities, API_TOKEN.c.street
        ).where(
            API_TOKEN.c.token_hash == token_digest(token),
            API_TOKEN.c.revoked_at.is_(None),
            sa.or_(API_TOKEN.c.expires_at.is_(None), API_TOKEN.c.expires_at > utcnow()),
        )
    ).one_or_none()
    if row is None:
        return None
    return Principal(row.id, row.name, row.role, frozenset(row.communities or ()), row.street)
