"""The limits of the control group this process is in (a container's, say): its memory and
its share of the processors, from Linux's cgroup files (v1 and v2); None where there is none.

membership is the list of the process's groups (/proc/self/cgroup: v1 lines
"N:controller,...:/path", v2 lines "0::/path"); root is where the cgroup file systems are
mounted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

MEMBERSHIP = Path("/proc/self/cgroup")
ROOT = Path("/sys/fs/cgroup")


def memory_limit(membership: Path = MEMBERSHIP, root: Path = ROOT) -> int | None:
    """The group's memory limit in bytes."""
    for folder, v2 in _groups("memory", membership, root):
        text = _read(folder / ("memory.max" if v2 else "memory.limit_in_bytes"))
        # "max" (v2) and a number near 2**63 (v1) both mean no limit.
        if text is not None and text.isdigit() and int(text) < 2**60:
            return int(text)
    return None


def cpu_limit(membership: Path = MEMBERSHIP, root: Path = ROOT) -> float | None:
    """The processor time the group may use, in cores: its quota over its period (v2's
    cpu.max "150000 100000", or v1's cpu.cfs_quota_us and cpu.cfs_period_us, give 1.5)."""
    for folder, v2 in _groups("cpu", membership, root):
        if v2:
            text = _read(folder / "cpu.max")
            quota, period = text.split() if text is not None and " " in text else ("", "")
        else:
            quota = _read(folder / "cpu.cfs_quota_us") or ""
            period = _read(folder / "cpu.cfs_period_us") or ""
        # "max" (v2) and -1 (v1) mean no quota.
        if quota.isdigit() and period.isdigit() and int(quota) > 0 and int(period) > 0:
            return int(quota) / int(period)
    return None


def _groups(controller: str, membership: Path, root: Path) -> Iterator[tuple[Path, bool]]:
    """The folders of the groups that hold controller, each with whether it is v2's."""
    text = _read(membership, strip=False)
    for line in (text or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, group = parts
        if controllers == "":
            yield root / group.lstrip("/"), True
        elif controller in controllers.split(","):
            yield root / controller / group.lstrip("/"), False


def _read(path: Path, *, strip: bool = True) -> str | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return text.strip() if strip else text
