"""How much memory this process may use, and DuckDB's settings fitted to it.

DuckDB's own default ``memory_limit`` is 80 % of the machine's RAM. That is wrong in
three common cases: a container whose cgroup allows less than the machine has, a
process started under an address-space limit (``ulimit -v``, ``prlimit --as``), and a
machine shared with other jobs. A DuckDB that believes it has more memory than it gets
does not spill to disk; the process is then killed, or aborts in an allocator with
"memory allocation of 24 bytes failed". So the warehouse's default is fitted here:

* the budget is the smallest of physical RAM, the cgroup's ``memory.max`` and, under an
  address-space limit, that limit minus what the process has already mapped (Python,
  Dagster, numba and the other libraries map about 1-2 GB of address space before any
  data is read);
* DuckDB gets half of it (``DUCKDB_SHARE``): the other half is for what runs beside
  DuckDB in the same process (pandas frames for Great Expectations, the models).

Every value can be set instead (``KOMMUNEBENCH_DUCKDB_MEMORY_LIMIT``,
``KOMMUNEBENCH_DUCKDB_TEMP_DIRECTORY``, ``KOMMUNEBENCH_DUCKDB_THREADS``).
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

DUCKDB_SHARE = 0.5
MIN_DUCKDB_BYTES = 256 * 2**20


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def physical_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def cgroup_bytes() -> int | None:
    """The cgroup's memory limit (v2 ``memory.max`` or v1 ``limit_in_bytes``), if any."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        v = _read_int(path)
        if v is not None and v < physical_bytes():
            return v
    return None


def address_space_limit() -> int | None:
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def mapped_bytes() -> int:
    """This process's mapped address space now (VmSize)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass(frozen=True)
class MemoryBudget:
    bytes: int
    source: str  # which limit decided it, in words

    def duckdb_limit(self) -> int:
        return max(MIN_DUCKDB_BYTES, int(self.bytes * DUCKDB_SHARE))


def memory_budget() -> MemoryBudget:
    """The memory this process can count on, and which limit decides it."""
    options = [(physical_bytes(), f"the machine's {gib(physical_bytes())} of RAM")]
    cg = cgroup_bytes()
    if cg is not None:
        options.append((cg, f"the cgroup limit of {gib(cg)}"))
    aslimit = address_space_limit()
    if aslimit is not None:
        free = max(0, aslimit - mapped_bytes())
        options.append((free, f"the address-space limit of {gib(aslimit)} ({gib(free)} of it left after the "
                              "libraries were loaded)"))
    size, source = min(options)
    return MemoryBudget(size, source)


def gib(n: int | float) -> str:
    return f"{n / 2**30:.1f} GB"


def duckdb_size(n: int) -> str:
    """A byte count as DuckDB's memory_limit wants it."""
    return f"{max(1, n // 2**20)}MB"


_FITTED: dict[str, object] = {}


def fitted_budget() -> MemoryBudget:
    """The budget as first measured in this process (before it read any data): what the
    warehouse's default limit was fitted to, also when it is reported after a failure."""
    if "budget" not in _FITTED:
        _FITTED["budget"] = memory_budget()
    return _FITTED["budget"]  # type: ignore[return-value]


def default_memory_limit() -> str:
    return os.environ.get("KOMMUNEBENCH_DUCKDB_MEMORY_LIMIT") or duckdb_size(fitted_budget().duckdb_limit())


def default_temp_directory() -> str:
    from kommunebench.paths import project_paths

    return os.environ.get("KOMMUNEBENCH_DUCKDB_TEMP_DIRECTORY") or str(project_paths().home / "tmp" / "duckdb")


def default_threads() -> int:
    return int(os.environ.get("KOMMUNEBENCH_DUCKDB_THREADS") or 0)
