"""Small measuring tools shared by the benchmark's phases: clocks, percentiles, memory, queries."""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile (fraction 0.5 is the median); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def latency_summary(seconds: Sequence[float]) -> dict[str, Any]:
    """p50 / p99 / max in milliseconds, with the sample size."""
    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 3)

    return {"samples": len(seconds), "p50_ms": ms(percentile(seconds, 0.5)), "p99_ms": ms(percentile(seconds, 0.99)),
            "max_ms": ms(max(seconds) if seconds else None)}


def _status_kb(pid: int | str, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb(pid: int | str = "self") -> float | None:
    """Resident memory now, in MiB (Linux /proc; None elsewhere)."""
    kb = _status_kb(pid, "VmRSS")
    return None if kb is None else round(kb / 1024, 1)


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """The process's resident-memory high-water mark, in MiB (falls back to getrusage for itself)."""
    kb = _status_kb(pid, "VmHWM")
    if kb is None and pid == "self":
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return None if kb is None else round(kb / 1024, 1)


@dataclass
class QueryCounter:
    """Counts the SQL statements Django sends (COPY streams are counted by their callers)."""

    count: int = 0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


@contextmanager
def counting_queries() -> Iterator[QueryCounter]:
    from django.db import connection

    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        yield counter


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


def rate(count: int, seconds: float) -> float | None:
    return round(count / seconds, 1) if seconds > 0 else None


def process_cpu_seconds() -> float:
    """This process's CPU and that of its children that have ended and been waited for (a run's
    reader processes, once their pool has shut down)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system
