"""Memory sizes as people write them, and the default limit."""

from pathlib import Path

import pytest

from catclf import memory
from catclf.memory import cgroup_limit, default_limit, format_size, parse_size


@pytest.mark.parametrize(
    "text, size",
    [
        ("600MB", 600_000_000),
        ("2GB", 2_000_000_000),
        ("512MiB", 512 * 1024 * 1024),
        ("1.5 gb", 1_500_000_000),
        ("64kib", 65536),
        ("10B", 10),
        (" 3 TiB ", 3 * 2**40),
    ],
)
def test_sizes_as_written(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "600", "lots", "MB", "-1GB", "1e3MB", "2 GBs", "0MB", "0.5B"])
def test_junk_and_empty_sizes_are_refused(text):
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


def test_format_size_reads_back_with_parse_size():
    assert format_size(614_400_000) == "614 MB"
    assert format_size(1_500_000_000) == "1.5 GB"
    assert format_size(999) == "999 B"
    assert parse_size(format_size(600_000_000).replace(" ", "")) == 600_000_000


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="no /proc/meminfo here")
def test_default_limit_is_a_quarter_of_available_memory():
    with open("/proc/meminfo") as f:
        available = next(int(line.split()[1]) * 1024 for line in f if "MemAvailable" in line)
    available = min(available, cgroup_limit() or available)
    # Memory in use changes between the two reads; a quarter, give or take 10 %.
    assert default_limit() == pytest.approx(available / 4, rel=0.1)


def test_a_container_limit_below_the_free_memory_sets_the_default(monkeypatch):
    monkeypatch.setattr(memory, "cgroup_limit", lambda: 400_000_000)
    assert default_limit() == 100_000_000


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
    assert cgroup_limit(membership, root) == 150 * 1024 * 1024


def test_cgroup_v2_memory_limit(tmp_path):
    membership, root = write_groups(
        tmp_path, "0::/user.slice/job\n", {"user.slice/job/memory.max": "2147483648\n"}
    )
    assert cgroup_limit(membership, root) == 2 * 1024**3


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
    assert cgroup_limit(*write_groups(tmp_path, membership, files)) is None


def test_no_cgroup_file_means_no_limit(tmp_path):
    assert cgroup_limit(tmp_path / "missing", tmp_path) is None
