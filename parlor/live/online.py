"""Who is online, as a page shows it: the answer for the dot beside a pushed message, cached
briefly. Presence itself (who is connected on which process) is parlor/live/presence.py."""
from __future__ import annotations

import time

from parlor.live.presence import Presence

# How old an "is online" answer for a pushed message's row may be. Presence notices clear it at
# once; this bounds only a change no notice told (a process that died, a subscription that was down).
ONLINE_CACHE_S = 10.0
ONLINE_CACHE_MAX = 10_000  # users remembered at most (then forgotten all at once)


class OnlineAnswers:
    """Presence.online, with a short memory for answers that may be a little old."""

    def __init__(self, presence: Presence):
        self._presence = presence
        self._cache: dict[str, tuple[bool, float]] = {}  # user -> (online, good until)

    async def online(self, users: list[str], viewer: str | None = None, recent: bool = False) -> set[str]:
        """Which of these users are online, as `viewer` may see it (not those who blocked them).
        `recent` (with no viewer) accepts an answer up to ONLINE_CACHE_S old, which a presence
        notice clears sooner: enough for the dot beside a pushed message, whose two people
        cannot have blocked each other (a blocked pair's sends are refused)."""
        if not recent or viewer is not None:
            return await self._presence.online(users, viewer)
        now = time.monotonic()
        cache = self._cache
        if all(user in cache and cache[user][1] > now for user in users):
            return {user for user in users if cache[user][0]}
        result = await self._presence.online(users)
        if len(cache) > ONLINE_CACHE_MAX:
            cache.clear()
        for user in users:
            cache[user] = (user in result, now + ONLINE_CACHE_S)
        return result

    def forget(self, user: str | None = None) -> None:
        """A presence notice came for `user` (None: notices may have been missed for anyone)."""
        if user is None:
            self._cache.clear()
        else:
            self._cache.pop(user, None)
