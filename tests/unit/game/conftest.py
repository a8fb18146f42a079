"""The game wing's tests play on boards 10, 100 and BIG_BOARD of a real Redis."""
import pytest
import redis.asyncio as aioredis

from parlor.game.games import Games
from parlor.game.leaderboards import Leaderboards
from parlor.safety import Safety
from tests.unit.game.playing import BIG_BOARD


@pytest.fixture
def games(redis_url, redis_sync, io_loop):
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield Games(client, Leaderboards(client, (10, 100, BIG_BOARD)), safety=Safety.unlimited(client))
    io_loop.run_sync(client.aclose)
