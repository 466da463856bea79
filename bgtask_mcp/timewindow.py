"""Turn what a model writes for a time ("2026-11-28T09:00:00+01:00", "20261128080000", "24h")
into the API's ``YYYYMMDDHHmmss`` in UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DMS = re.compile(r"^\d{14}$")
_RELATIVE = re.compile(r"^-?(\d+(?:\.\d+)?)\s*(m|min|h|d|w)$", re.IGNORECASE)
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}

HELP = (
    "use ISO 8601 (2026-11-28T09:00:00Z or with an offset, naive times are UTC), the API's YYYYMMDDHHmmss in UTC, "
    "or a duration back from now such as 90m, 24h, 7d"
)


def to_dms_time(value: str, *, now: datetime | None = None) -> str:
    """Convert to ``YYYYMMDDHHmmss`` UTC; raises ValueError with a message saying what is accepted."""
    text = value.strip()
    if _DMS.match(text):
        try:
            datetime.strptime(text, "%Y%m%d%H%M%S")  # reject 20261399...
        except ValueError:
            raise ValueError(f"cannot read the time {value!r}: it is not a real date and time") from None
        return text
    rel = _RELATIVE.match(text)
    if rel:
        seconds = float(rel.group(1)) * _UNITS[rel.group(2).lower()]
        if seconds > 10 * 365 * 86400:
            raise ValueError(f"{value!r} reaches back more than ten years")
        when = (now or datetime.now(UTC)) - timedelta(seconds=seconds)
        return when.strftime("%Y%m%d%H%M%S")
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"cannot read the time {value!r}: {HELP}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y%m%d%H%M%S")
