"""The game wing's tests play on boards 10 and 100 of a real Redis."""
import pytest
import redis.asyncio as aioredis

from parlor.game.games import Games
from parlor.game.leaderboards import Leaderboards
from parlor.safety import Safety


@pytest.fixture
def games(redis_url, redis_sync, io_loop):
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield Games(client, Leaderboards(client, (10, 100)), safety=Safety.unlimited(client))
    io_loop.run_sync(client.aclose)
