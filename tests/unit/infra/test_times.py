"""parlor/infra/times.py: the one way a time is written for programs (JSON, exports, logs, <time>)."""
from datetime import datetime, timedelta, timezone

import pytest

from parlor.infra.times import iso_time

AT = 1_700_000_000_123  # unix ms


@pytest.mark.parametrize("at,timespec,expected", [
    (0, "milliseconds", "1970-01-01T00:00:00.000Z"),
    (AT, "milliseconds", "2023-11-14T22:13:20.123Z"),
    (AT + 876, "milliseconds", "2023-11-14T22:13:20.999Z"),
    (AT + 876, "seconds", "2023-11-14T22:13:20Z"),  # cut, never rounded up to the next second
    (AT / 1, "milliseconds", "2023-11-14T22:13:20.123Z"),  # a float, as a log record's time * 1000
    (datetime(2023, 11, 14, 22, 13, 20, 123456, timezone.utc), "milliseconds", "2023-11-14T22:13:20.123Z"),
    (datetime(2023, 11, 14, 22, 13, 20, 999999, timezone.utc), "seconds", "2023-11-14T22:13:20Z"),
    (datetime(2023, 11, 15, 0, 13, 20, tzinfo=timezone(timedelta(hours=2))), "seconds", "2023-11-14T22:13:20Z"),
])
def test_a_time_is_iso_8601_in_utc_with_a_z(at, timespec, expected):
    assert iso_time(at, timespec) == expected
