"""parlor/infra/redis_binaries.py: which Redis may open a data dir's files."""
import pytest

from parlor.infra.redis_binaries import RedisServer, choose, owner_of
from parlor.infra.startup import CannotStart
from tests.redis_servers import redis_server

REDIS_62 = RedisServer("/a", "redis", (6, 2, 14))
REDIS_70 = RedisServer("/b", "redis", (7, 0, 15))
REDIS_74 = RedisServer("/c", "redis", (7, 4, 0))
VALKEY_9 = RedisServer("/d", "valkey", (9, 1, 2))


@pytest.mark.parametrize("server, owner, reads", [
    (REDIS_62, REDIS_62, True),
    (REDIS_70, REDIS_62, True),  # it rewrites appendonly.aof into appendonlydir/
    (REDIS_62, REDIS_70, False),  # it would skip appendonlydir/ and start empty
    (VALKEY_9, REDIS_70, True),
    (VALKEY_9, REDIS_74, False),  # RDB 12
    (REDIS_70, VALKEY_9, False),
])
def test_a_redis_reads_its_own_kind_as_new_or_newer(server, owner, reads):
    assert server.reads(owner) is reads


def test_files_from_before_the_record_name_their_oldest_possible_owner(tmp_path):
    assert owner_of(tmp_path) is None  # nothing there yet
    (tmp_path / "appendonly.aof").write_text("")
    assert owner_of(tmp_path) is None  # any supported Redis reads it
    (tmp_path / "appendonlydir").mkdir()
    assert owner_of(tmp_path).version == (7, 0, 0)
    with pytest.raises(CannotStart, match="holds the data of Redis 7.0.0"):
        choose(tmp_path, redis_server("redis-6.2"))
    assert choose(tmp_path, redis_server("valkey-9")).family == "valkey"


def test_something_that_is_not_redis_is_refused(tmp_path):
    with pytest.raises(CannotStart, match="not a Redis or Valkey server"):
        choose(tmp_path, "/bin/echo")
