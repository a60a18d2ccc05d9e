"""Coalesce concurrent calls of the resident look-up's hot path into one round trip.

Calls that arrive while a batch is on its way wait and go together in the next one: under load one
Redis script call or one PostgreSQL statement serves many look-ups (each hop costs far more CPU in
the client, the server and the kernel than the work it carries); at rest every call goes alone, at
once. An error in a batch reaches every call of that batch, and only those.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Answer = TypeVar("Answer")


class Coalescer(Generic[Item, Answer]):
    """`await submit(item)` is `send(batch)[i]` for the batch the item went in; one event loop."""

    def __init__(self, send: Callable[[list[Item]], Awaitable[Sequence[Answer]]], max_batch: int = 256) -> None:
        self._send = send
        self._max_batch = max_batch
        self._waiting: list[tuple[Item, asyncio.Future[Answer]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Answer:
        answered: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, answered))
        if self._sender is None:
            self._sender = asyncio.create_task(self._drain())
        return await answered

    async def _drain(self) -> None:
        """Send the waiting calls, batch after batch, until none is left."""
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[: self._max_batch], self._waiting[self._max_batch :]
                try:
                    answers = await self._send([item for item, _ in batch])
                except Exception as exc:
                    for _, answered in batch:
                        if not answered.done():
                            answered.set_exception(exc)
                    continue
                except BaseException:  # the drain itself cancelled (shutdown): no caller may wait for ever
                    for _, answered in batch + self._waiting:
                        answered.cancel()
                    self._waiting = []
                    raise
                for (_, answered), answer in zip(batch, answers, strict=True):
                    if not answered.done():  # a caller cancelled (client gone) needs no answer
                        answered.set_result(answer)
        finally:
            self._sender = None
