"""Python's cyclic garbage collector, held off while one unit of allocation-heavy work runs."""
from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector held off for the duration. Work that allocates a few hundred thousand
    objects (a PDF's boxes and styles, a chunk's snapshots and evaluations, a refresh's obligation
    states) sets off collections that walk everything the process holds (Django, the rule library):
    a quarter to a third of the work's time. Objects are still freed as their last reference goes;
    cyclic garbage waits for the next collection. Only the caller that paused it resumes it, so
    nested or concurrent callers leave it as they found it."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()
