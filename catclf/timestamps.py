"""When a model or a data file was made, as the file records it."""

from __future__ import annotations

import os
from datetime import datetime, timezone


def now() -> str:
    """The time, in UTC, as ISO 8601 to the second ("2026-12-06T18:39:35+00:00"); or the time
    SOURCE_DATE_EPOCH says, where it is set to whole seconds, as reproducible builds use it,
    so that a run can make the same file again, byte for byte."""
    fixed = os.environ.get("SOURCE_DATE_EPOCH", "")
    moment = (
        datetime.fromtimestamp(int(fixed), timezone.utc)
        if fixed.isdigit()
        else datetime.now(timezone.utc)
    )
    return moment.isoformat(timespec="seconds")
