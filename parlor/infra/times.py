"""Times written for programs to read: ISO 8601 in UTC with a Z, the one format of Parlor's JSON,
data exports, JSON log lines and the datetime attribute of every <time> in its pages."""
from __future__ import annotations

from datetime import datetime, timezone


def iso_time(at: datetime | int | float, timespec: str = "milliseconds") -> str:
    """`at` (an aware datetime, or unix milliseconds) in UTC as ISO 8601 with a Z: to the
    millisecond ("2025-03-01T12:00:00.250Z"), or to the second with timespec="seconds"."""
    if not isinstance(at, datetime):
        at = datetime.fromtimestamp(at / 1000, timezone.utc)
    return at.astimezone(timezone.utc).isoformat(timespec=timespec).replace("+00:00", "Z")
