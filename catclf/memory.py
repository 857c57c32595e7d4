"""Memory sizes: the default budget for training data, and sizes as people write them."""

from __future__ import annotations

import os
import re

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
FALLBACK = 1024**3  # when the system does not say how much memory it has


def parse_size(text: str) -> int:
    """'600MB', '2GB', '512MiB', '1.5 GB' to bytes (MB = 1000^2, MiB = 1024^2).

    Raises ValueError, saying what was expected, for anything else, a bare number
    included (600 bytes is rarely meant), and for sizes below one byte.
    """
    found = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]+)\s*", text)
    if not found or found.group(2).lower() not in UNITS:
        raise ValueError(
            f"{text!r} is not a size; expected a number and a unit, such as 600MB, 2GB or "
            "512MiB (units: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"
        )
    size = int(float(found.group(1)) * UNITS[found.group(2).lower()])
    if size < 1:
        raise ValueError(f"{text!r} is not a positive size")
    return size


def format_size(size: int) -> str:
    """Bytes as '1.2 GB' or '600 MB' (powers of 1000, as `parse_size` reads MB and GB)."""
    for unit, factor in (("TB", 1000**4), ("GB", 1000**3), ("MB", 1000**2), ("KB", 1000)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}"
    return f"{size} B"


def default_limit() -> int:
    """A quarter of the memory available now: MemAvailable in /proc/meminfo where there is
    one, else a quarter of the physical memory, else 1 GiB."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 4
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4
    except (OSError, ValueError, AttributeError):
        return FALLBACK
