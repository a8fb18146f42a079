"""parlor/config.py: flags over environment over defaults; the cookie secret file."""
import stat
from pathlib import Path

from parlor.config import Config


def test_defaults():
    config = Config.from_args([], environ={})
    assert (config.address, config.port, config.data_dir) == ("127.0.0.1", 8888, Path("data"))
    assert config.redis_url is None and config.debug is False


def test_environment_then_flags():
    env = {"PARLOR_PORT": "9000", "PARLOR_ALLOWED_ORIGINS": "https://a.example/, https://b.example",
           "PARLOR_DEBUG": "true", "PARLOR_REDIS_URL": "redis://localhost:6380/0"}
    config = Config.from_args([], environ=env)
    assert config.port == 9000 and config.debug is True
    assert config.allowed_origins == ("https://a.example", "https://b.example")
    assert config.redis_url == "redis://localhost:6380/0"
    assert Config.from_args(["--port", "9100", "--no-debug"], environ=env).port == 9100
    assert Config.from_args(["--no-debug"], environ=env).debug is False


def test_secret_is_made_once_with_mode_0600(tmp_path):
    first = Config(data_dir=tmp_path).with_secret()
    second = Config(data_dir=tmp_path).with_secret()
    assert first.cookie_secret and first.cookie_secret == second.cookie_secret
    assert stat.S_IMODE((tmp_path / "secret").stat().st_mode) == 0o600
    assert Config(data_dir=tmp_path, cookie_secret="given").with_secret().cookie_secret == "given"
