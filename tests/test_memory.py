"""Memory sizes as people write them, and the default limit."""

from pathlib import Path

import pytest

from catclf import memory
from catclf.cgroups import memory_limit
from catclf.memory import default_limit, format_size, parse_size


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
    available = min(available, memory_limit() or available)
    # Memory in use changes between the two reads; a quarter, give or take 10 %.
    assert default_limit() == pytest.approx(available / 4, rel=0.1)


def test_a_container_limit_below_the_free_memory_sets_the_default(monkeypatch):
    monkeypatch.setattr(memory, "memory_limit", lambda: 400_000_000)
    assert default_limit() == 100_000_000
