"""Fixed-window rate limits: in this process when REDIS_URL is unset, in Redis (shared by every API
process) when it is set.

`hit` counts one attempt against every rule at once and says how many seconds to wait when any rule
is over its limit. Keys are already hashed by the caller: no id number or phone reaches Redis. It is a
coroutine: the Redis limiter waits for Redis without holding a thread.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis import asyncio as redis

from api.batching import Coalescer


@dataclass(frozen=True)
class Rule:
    key: str
    limit: int
    window_s: int


class RateLimiter(Protocol):
    async def hit(self, rules: list[Rule]) -> int | None:
        """Count one attempt against each rule; None when all allow it, else seconds until one does."""
        ...

    async def close(self) -> None: ...


def _window(rule: Rule, now: float) -> tuple[int, int]:
    """The rule's current window number and the seconds left in it."""
    number = int(now // rule.window_s)
    return number, max(1, math.ceil((number + 1) * rule.window_s - now))


class MemoryRateLimiter:
    """Counters in a dict, for one process (the embedded default)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._counts: dict[tuple[str, int, int], int] = {}  # (key, window length, window number) → attempts
        self._lock = threading.Lock()  # one app may serve several event loops (test clients)
        self._clock = clock
        self._swept = -1

    async def hit(self, rules: list[Rule]) -> int | None:
        return self.count(rules)

    async def close(self) -> None:
        """Nothing to release (the counters live as long as the app)."""

    def count(self, rules: list[Rule]) -> int | None:
        """`hit`, synchronously: a dict and a lock, no waiting."""
        now = self._clock()
        wait: int | None = None
        with self._lock:
            if int(now // 60) != self._swept:  # forget finished windows once a minute: memory stays bounded
                self._swept = int(now // 60)
                self._counts = {k: v for k, v in self._counts.items() if (k[2] + 1) * k[1] > now}
            for rule in rules:
                number, left = _window(rule, now)
                key = (rule.key, rule.window_s, number)
                count = self._counts[key] = self._counts.get(key, 0) + 1
                if count > rule.limit:
                    wait = max(wait or 0, left)
        return wait


# One call for every rule: count, set the window's expiry on its first attempt, return the counts.
_HIT = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  if counts[i] == 1 then redis.call('EXPIRE', key, ARGV[i]) end
end
return counts
"""


class RedisRateLimiter:
    """Counters in Redis: one script call (EVALSHA) per batch of attempts (`api.batching`)."""

    def __init__(self, client: redis.Redis, prefix: str = "sched:rl:") -> None:
        self._redis = client
        self._prefix = prefix
        self._script = client.register_script(_HIT)
        self._batches: Coalescer[tuple[list[str], list[int]], list[int]] = Coalescer(self._count)

    @classmethod
    def from_url(cls, url: str) -> RedisRateLimiter:
        """A limiter on a new client, bound to the running event loop (create it in the app's lifespan)."""
        return cls(redis.Redis.from_url(url, socket_timeout=2, health_check_interval=30))

    async def hit(self, rules: list[Rule]) -> int | None:
        now = time.time()
        windows = [_window(rule, now) for rule in rules]
        keys = [
            f"{self._prefix}{rule.window_s}:{number}:{rule.key}"
            for rule, (number, _) in zip(rules, windows, strict=True)
        ]
        counts = await self._batches.submit((keys, [left + 1 for _, left in windows]))
        waits = [left for rule, count, (_, left) in zip(rules, counts, windows, strict=True) if count > rule.limit]
        return max(waits) if waits else None

    async def _count(self, attempts: list[tuple[list[str], list[int]]]) -> list[list[int]]:
        """Every attempt's keys counted in one script call; each attempt's counts."""
        counts = await self._script(
            keys=[key for keys, _ in attempts for key in keys], args=[arg for _, args in attempts for arg in args]
        )
        split, at = [], 0
        for keys, _ in attempts:
            split.append(counts[at : at + len(keys)])
            at += len(keys)
        return split

    async def close(self) -> None:
        await self._redis.aclose()
