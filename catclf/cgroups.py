"""The limits of the control group this process is in (a container's, say): its memory and
its share of the processors, from Linux's cgroup files (v1 and v2); None where there is none.

membership is the list of the process's groups (/proc/self/cgroup: v1 lines
"N:controller,...:/path", v2 lines "0::/path"); root is where the cgroup file systems are
mounted. A limit set on a group holds for the groups below it, so the smallest limit from
the process's group up to the root is the one that binds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

MEMBERSHIP = Path("/proc/self/cgroup")
ROOT = Path("/sys/fs/cgroup")
NUMBER = re.compile(r"[0-9]{1,20}")


def memory_limit(membership: Path = MEMBERSHIP, root: Path = ROOT) -> int | None:
    """The group's memory limit in bytes."""
    limits = []
    for folder, v2 in _groups("memory", membership, root):
        text = _read(folder / ("memory.max" if v2 else "memory.limit_in_bytes"))
        # "max" (v2) and a number near 2**63 (v1) both mean no limit.
        if NUMBER.fullmatch(text) and int(text) < 2**60:
            limits.append(int(text))
    return min(limits, default=None)


def cpu_limit(membership: Path = MEMBERSHIP, root: Path = ROOT) -> float | None:
    """The processor time the group may use, in cores: its quota over its period (v2's
    cpu.max "150000 100000", or v1's cpu.cfs_quota_us and cpu.cfs_period_us, give 1.5)."""
    limits = []
    for folder, v2 in _groups("cpu", membership, root):
        if v2:
            quota, _, period = _read(folder / "cpu.max").partition(" ")
        else:
            quota = _read(folder / "cpu.cfs_quota_us")
            period = _read(folder / "cpu.cfs_period_us")
        # "max" (v2) and -1 (v1) mean no quota.
        if NUMBER.fullmatch(quota) and NUMBER.fullmatch(period) and int(period) > 0:
            limits.append(int(quota) / int(period))
    return min((limit for limit in limits if limit > 0), default=None)


def _groups(controller: str, membership: Path, root: Path) -> Iterator[tuple[Path, bool]]:
    """The folders of the groups whose limits hold for the process, each with whether it is
    v2's: its group in each hierarchy that has controller, and each group above it. Where
    the group's folder is not there (a container that sees its own group as the root of
    the hierarchy), the root's."""
    for line in _read(membership).splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, group = parts
        if controllers == "":
            base, v2 = root, True
        elif controller in controllers.split(","):
            base, v2 = root / controller, False
        else:
            continue
        names = PurePosixPath(group).parts[1:]
        if ".." in names or not base.joinpath(*names).is_dir():
            yield base, v2
            continue
        for depth in range(len(names), -1, -1):
            yield base.joinpath(*names[:depth]), v2


def _read(path: Path) -> str:
    """The file's text, stripped; "" where it cannot be read."""
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return ""
