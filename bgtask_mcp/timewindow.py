"""Turn what a model writes for a time ("2026-11-28T09:00:00+01:00", "20261128080000", "24h") into the API's
``YYYYMMDDHHmmss`` in UTC, refusing with one clear sentence whatever cannot be such a time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from bgtask_mcp.redaction import shown

_DMS = re.compile(r"^\d{14}$")
_RELATIVE = re.compile(r"^-?\s*(\d{1,9}(?:\.\d{1,6})?)\s*(m|min|h|d|w)$", re.IGNORECASE)
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
MAX_LOOKBACK = timedelta(days=3653)

HELP = "ISO 8601 (naive is UTC), YYYYMMDDHHmmss (UTC), or back from now: 90m, 24h, 7d"


def to_dms_time(value: str, *, now: datetime | None = None) -> str:
    """Convert to ``YYYYMMDDHHmmss`` UTC; raises ValueError with a sentence saying what is accepted."""
    return dms_time_of(to_datetime(value, now=now))


def to_datetime(value: str, *, now: datetime | None = None) -> datetime:
    """Any accepted form -> an aware UTC datetime; raises ValueError with a sentence saying what is accepted."""
    when = _parse(value.strip(), value, now or datetime.now(UTC))
    if not EARLIEST <= when <= LATEST:
        raise ValueError(f"the time {shown(value, 40)} is outside 1970-01-01 to 9999-12-31 (UTC), the range DMS keeps")
    return when


def dms_time_of(when: datetime) -> str:
    return f"{when.year:04d}{when.month:02d}{when.day:02d}{when.hour:02d}{when.minute:02d}{when.second:02d}"


def _parse(text: str, value: str, now: datetime) -> datetime:
    if _DMS.match(text):
        try:
            return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        except ValueError:
            raise ValueError(f"cannot read the time {shown(value, 40)}: it is not a real date and time") from None
    relative = _RELATIVE.match(text)
    if relative:
        back = timedelta(seconds=float(relative.group(1)) * _UNITS[relative.group(2).lower()])
        if back > MAX_LOOKBACK:
            raise ValueError(f"{shown(value, 40)} reaches back more than ten years")
        return now - back
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"cannot read the time {shown(value, 40)}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return when.astimezone(UTC)
    except OverflowError:  # year 1 with a positive offset, year 9999 with a negative one
        raise ValueError(
            f"the time {shown(value, 40)} is outside 1970-01-01 to 9999-12-31 (UTC), the range DMS keeps"
        ) from None
