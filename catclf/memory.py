"""Memory sizes: the default budget for training data, and sizes as people write them."""

from __future__ import annotations

import os
import re

from catclf.cgroups import memory_limit

UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
SIZE_EXPECTED = (
    "a number and a unit, such as 600MB, 2GB or 512MiB (units: B, KB, MB, GB, TB, KiB, "
    "MiB, GiB, TiB)"
)
FALLBACK = 1024**3  # when the system does not say how much memory it has


def parse_size(text: str) -> int:
    """'600MB', '2GB', '512MiB', '1.5 GB' to bytes (MB = 1000^2, MiB = 1024^2).

    Raises ValueError, saying what was expected, for anything else, a bare number
    included (600 bytes is rarely meant), and for sizes below one byte.
    """
    found = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]+)\s*", text)
    if not found or found.group(2).lower() not in UNITS:
        raise ValueError(f"{text!r} is not a size; expected {SIZE_EXPECTED}")
    size = int(float(found.group(1)) * UNITS[found.group(2).lower()])
    if size < 1:
        raise ValueError(f"{text!r} is not a size of one byte or more")
    return size


def format_size(size: int) -> str:
    """Bytes as '1.2 GB' or '600 MB' (powers of 1000, as `parse_size` reads MB and GB)."""
    for unit, factor in (("TB", 1000**4), ("GB", 1000**3), ("MB", 1000**2), ("KB", 1000)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}"
    return f"{size} B"


def default_limit() -> int:
    """A quarter of the memory this process may use: of MemAvailable in /proc/meminfo (else
    of the physical memory, else of 1 GiB), or of its control group's limit (a container's
    memory limit, say) where that is smaller."""
    available = _available()
    limit = memory_limit()
    if limit is not None:
        available = min(available, limit) if available is not None else limit
    return (available if available is not None else FALLBACK) // 4


def _available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None
