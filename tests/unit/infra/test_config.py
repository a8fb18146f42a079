"""parlor/infra/config.py: flags over environment over defaults; the cookie secret file."""
import stat
from pathlib import Path

import pytest

from parlor.infra.config import NO_LIMIT, NO_LIMITS, Config, Rate, as_flags


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


def test_operator_flags_from_environment_and_flags():
    config = Config.from_args([], environ={"PARLOR_LOG_FORMAT": "json", "PARLOR_METRICS_ALLOW": "10.0.0.0/8, ::1"})
    assert config.log_format == "json" and config.metrics_allow == ("10.0.0.0/8", "::1")
    assert Config.from_args(["--metrics-allow", ""], environ={}).metrics_allow == ()  # nobody
    assert Config.from_args([], environ={}).metrics_allow == ("127.0.0.0/8", "::1/128")


@pytest.mark.parametrize("argv, environ", [
    (["--log-format", "xml"], {}),
    ([], {"PARLOR_LOG_FORMAT": "xml"}),
    (["--metrics-allow", "localhost"], {}),
    ([], {"PARLOR_METRICS_ALLOW": "10.0.0.0/33"}),
])
def test_bad_operator_flags_are_refused(argv, environ, capsys):
    with pytest.raises(SystemExit) as exited:
        Config.from_args(argv, environ=environ)
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "--log-format" in error or "--metrics-allow" in error


@pytest.mark.parametrize("raw,expected", [
    ("20/10", Rate(20, 10)), (" 5/3600 ", Rate(5, 3600)), ("0", NO_LIMIT), ("1/1", Rate(1, 1)),
])
def test_rate_limits_are_count_per_seconds_or_0_for_none(raw, expected):
    assert Config.from_args(["--message-limit", raw], environ={}).message_limit == expected
    assert Config.from_args([], environ={"PARLOR_GUESS_LIMIT": raw}).guess_limit == expected


@pytest.mark.parametrize("raw", ["", "20", "20/", "/10", "0/10", "20/0", "-1/10", "20/10/1", "２0/10", "1.5/10",
                                 "20/999999999"])
def test_bad_rate_limits_are_refused(raw, capsys):
    with pytest.raises(SystemExit):
        Config.from_args([f"--image-limit={raw}"], environ={})
    assert "COUNT/SECONDS" in capsys.readouterr().err


def test_default_limits():
    config = Config.from_args([], environ={})
    assert (config.message_limit, config.conversation_limit, config.image_limit, config.signup_limit,
            config.guess_limit) == (Rate(20, 10), Rate(30, 3600), Rate(10, 60), Rate(5, 3600), Rate(10, 1))


def test_no_limits_switches_every_rate_limit_and_address_cap_off_as_settings_and_as_flags():
    rate_fields = {name for name, value in vars(Config()).items() if isinstance(value, Rate)}
    caps = {"max_connections_per_address", "max_anonymous_connections_per_address"}
    assert set(NO_LIMITS) == rate_fields | caps and {NO_LIMITS[name] for name in rate_fields} == {NO_LIMIT}
    config = Config.from_args(list(as_flags(NO_LIMITS)), environ={})
    assert all(getattr(config, name).unlimited for name in rate_fields)
    assert all(getattr(config, name) == 0 for name in caps)
