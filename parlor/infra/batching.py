"""Group commit for round trips: what many callers ask for while one call is under way goes
together in the next call.

Under no load a request is sent at once (alone); under load, requests wait for the call in
flight and then go as one, so the cost per request falls as the load rises, and the calls are
made one at a time, in the order they were asked for.
"""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Generic, TypeVar

Request = TypeVar("Request")
Answer = TypeVar("Answer")


class Batcher(Generic[Request, Answer]):
    """Runs `call(requests) -> answers` (one answer per request, in order) for batches of
    requests, one call at a time; at most `max_batch` requests a call."""

    def __init__(self, call: Callable[[list[Request]], Awaitable[list[Answer]]], max_batch: int = 256):
        self._call = call
        self._max_batch = max_batch
        self._waiting: list[tuple[Request, asyncio.Future]] = []
        self._running: asyncio.Task | None = None

    async def submit(self, request: Request) -> Answer:
        """The answer to one request, sent with whatever else is waiting."""
        answer = asyncio.get_running_loop().create_future()
        self._waiting.append((request, answer))
        if self._running is None:
            self._running = asyncio.ensure_future(self._run())
        return await answer

    async def _run(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[:self._max_batch]
                del self._waiting[:self._max_batch]
                try:
                    answers = await self._call([request for request, _ in batch])
                except BaseException as e:  # every caller of the batch hears why
                    for _, answer in batch:
                        if not answer.done():
                            answer.set_exception(e)
                    if isinstance(e, asyncio.CancelledError):
                        raise
                    continue
                for (_, answer), result in zip(batch, answers, strict=True):
                    if not answer.done():  # a caller may have given up (cancelled) meanwhile
                        answer.set_result(result)
        finally:
            self._running = None
            for _, answer in self._waiting:  # only when cancelled: nobody will send these
                if not answer.done():
                    answer.cancel()
            self._waiting = []
