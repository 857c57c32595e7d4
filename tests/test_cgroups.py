"""The limits of a control group (a container's): memory and processor time, read from
cgroup files (v1 and v2) made in a temporary folder, and the cores that catclf then uses."""

import pytest

from catclf import parameters
from catclf.cgroups import cpu_limit, memory_limit


def write_groups(tmp_path, membership, files):
    (tmp_path / "cgroup").write_text(membership)
    for relative, text in files.items():
        path = tmp_path / "fs" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "cgroup", tmp_path / "fs"


def test_cgroup_v1_memory_limit(tmp_path):
    membership, root = write_groups(
        tmp_path,
        "5:devices:/box\n4:memory:/box/job\n0::/\n",
        {"memory/box/job/memory.limit_in_bytes": "157286400\n"},
    )
    assert memory_limit(membership, root) == 150 * 1024 * 1024


def test_cgroup_v2_memory_limit(tmp_path):
    membership, root = write_groups(
        tmp_path, "0::/user.slice/job\n", {"user.slice/job/memory.max": "2147483648\n"}
    )
    assert memory_limit(membership, root) == 2 * 1024**3


@pytest.mark.parametrize(
    "membership, files",
    [
        ("0::/job\n", {"job/memory.max": "max\n"}),
        ("4:memory:/\n", {"memory/memory.limit_in_bytes": "9223372036854771712\n"}),
        ("4:memory:/gone\n", {}),
        ("1:cpu:/job\n", {"cpu/job/memory.limit_in_bytes": "1000\n"}),
    ],
    ids=["v2 max", "v1 no limit", "no such group", "no memory controller"],
)
def test_no_cgroup_memory_limit(tmp_path, membership, files):
    assert memory_limit(*write_groups(tmp_path, membership, files)) is None


def test_no_cgroup_file_means_no_limit(tmp_path):
    assert memory_limit(tmp_path / "missing", tmp_path) is None


def test_cgroup_v2_cpu_limit(tmp_path):
    membership, root = write_groups(tmp_path, "0::/job\n", {"job/cpu.max": "150000 100000\n"})
    assert cpu_limit(membership, root) == 1.5


def test_cgroup_v1_cpu_limit(tmp_path):
    membership, root = write_groups(
        tmp_path,
        "6:memory:/box\n3:cpu,cpuacct:/box\n",
        {"cpu/box/cpu.cfs_quota_us": "50000\n", "cpu/box/cpu.cfs_period_us": "100000\n"},
    )
    assert cpu_limit(membership, root) == 0.5


@pytest.mark.parametrize(
    "membership, files",
    [
        ("0::/job\n", {"job/cpu.max": "max 100000\n"}),
        (
            "3:cpu,cpuacct:/\n",
            {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"},
        ),
        ("0::/job\n", {"job/cpu.max": "100000 0\n"}),
        ("0::/job\n", {"job/cpu.max": "lots\n"}),
        ("4:memory:/job\n", {"memory/job/cpu.max": "100000 100000\n"}),
    ],
    ids=["v2 max", "v1 no quota", "no period", "junk", "no cpu controller"],
)
def test_no_cgroup_cpu_limit(tmp_path, membership, files):
    assert cpu_limit(*write_groups(tmp_path, membership, files)) is None


@pytest.mark.parametrize("limit, expected", [(None, 2), (8.0, 2), (1.5, 1), (0.2, 1), (1.0, 1)])
def test_the_cores_catclf_uses_are_the_fewer_of_the_processors_and_the_quota(
    monkeypatch, limit, expected
):
    monkeypatch.setattr(parameters.os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(parameters, "cpu_limit", lambda: limit)
    assert parameters.cores() == expected


def test_a_limit_on_a_group_above_holds(tmp_path):
    # A systemd slice or a pod limits the groups below it: the smallest limit binds.
    membership, root = write_groups(
        tmp_path,
        "0::/pod/job\n",
        {
            "pod/memory.max": "1073741824\n",
            "pod/job/memory.max": "max\n",
            "pod/cpu.max": "50000 100000\n",
            "pod/job/cpu.max": "200000 100000\n",
        },
    )
    assert memory_limit(membership, root) == 1024**3
    assert cpu_limit(membership, root) == 0.5


def test_a_group_not_under_the_mount_is_the_mount_itself(tmp_path):
    # cgroup v1 without a namespace: the process names /docker/<id>, and the container sees
    # that group mounted as the hierarchy's root.
    membership, root = write_groups(
        tmp_path,
        "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n",
        {
            "memory/memory.limit_in_bytes": "536870912\n",
            "cpu/cpu.cfs_quota_us": "300000\n",
            "cpu/cpu.cfs_period_us": "100000\n",
        },
    )
    assert memory_limit(membership, root) == 512 * 1024**2
    assert cpu_limit(membership, root) == 3.0


@pytest.mark.parametrize(
    "files",
    [
        {"job/cpu.max": "150000 100000 7\n", "job/memory.max": "1e9\n"},
        {"job/cpu.max": "\u00b2 100000\n", "job/memory.max": "\u00b2\n"},
        {"job/cpu.max": "-5 100000\n", "job/memory.max": "-1\n"},
        {"job/cpu.max": "0 100000\n", "job/memory.max": "\n"},
    ],
    ids=["three numbers", "a superscript digit", "negative", "zero and empty"],
)
def test_junk_in_a_cgroup_file_is_no_limit(tmp_path, files):
    membership, root = write_groups(tmp_path, "0::/job\n", files)
    assert (cpu_limit(membership, root), memory_limit(membership, root)) == (None, None)
