"""RFC 3339 datetimes as filters and order_by read them, in payloads and in requests."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache

_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?)?"
)


# The longest text _DATETIME matches: date, time with 9 fraction digits, and a +hh:mm offset.
_DATETIME_MAX_CHARS = len("2024-01-01T00:00:00.123456789+00:00")


def parse_datetime(text: str) -> datetime | None:
    """An RFC 3339 datetime (also with a space, without seconds, or a bare date); naive is UTC."""
    # Longer text is no datetime, and must not reach the cache: it would keep any string a
    # request or a payload holds, 65,536 of them (a client's 2,000 bad filters of 32 KB each
    # held 60 MiB for good).
    if len(text) > _DATETIME_MAX_CHARS:
        return None
    return _parse_datetime_text(text)


@lru_cache(maxsize=65536)
def _parse_datetime_text(text: str) -> datetime | None:
    match = _DATETIME.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, _z, sign, off_h, off_m = match.groups()
    tz = timezone.utc
    if sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m or 0))
        if offset >= timedelta(hours=24):
            return None
        tz = timezone(-offset if sign == "-" else offset)
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=tz,
        )
    except ValueError:
        return None
