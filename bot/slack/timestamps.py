"""Slack's timestamps (``ts``, "1765432100.000200": seconds and microseconds since the epoch)
as the moments they name, exactly: a post's and a reply's are compared to the microsecond."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_TS = re.compile(r"(\d{1,12})(?:\.(\d{1,6}))?")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def slack_time(ts: object) -> datetime | None:
    """When a Slack message was posted, from its ts; None if it is not one."""
    found = _TS.fullmatch(str(ts)) if ts else None
    if found is None:
        return None
    seconds, fraction = found.groups()
    micro = int((fraction or "").ljust(6, "0"))
    return _EPOCH + timedelta(seconds=int(seconds), microseconds=micro)
