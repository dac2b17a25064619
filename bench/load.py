"""A small concurrent load generator on loopback: threads, one request at a time each, bounded in
time and in count. Compares the API's model submission with the trivial /healthz of the same server,
the two taken in turn (`alternating`)."""
from __future__ import annotations

import http.client
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from .measure import latency_summary, rate

Request = tuple[str, str, bytes | None, dict[str, str]]


def alternating(port: int, kinds: dict[str, tuple[Callable[[int], Request], tuple[int, ...], int]], *,
                seconds: float, concurrency: int, rounds: int) -> dict[str, dict[str, Any]]:
    """Requests per second, latency percentiles and errors for each kind of request (name: (make_request, ok statuses, most requests)), `seconds`
    each in all, in `rounds` slices taken in turn, the order reversed every other round (A B, B A, ...).
    On a machine whose speed drifts within a run each kind then meets the same moments, and the ratio
    of their rates is the ratio of their costs, not of two moments of the machine."""
    numbers = {name: itertools.count() for name in kinds}
    latencies: dict[str, list[float]] = {name: [] for name in kinds}
    errors: dict[str, dict[str, int]] = {name: {} for name in kinds}
    elapsed = dict.fromkeys(kinds, 0.0)
    order = list(kinds)
    for round_number in range(rounds):
        for name in order if round_number % 2 == 0 else order[::-1]:
            make_request, ok, most = kinds[name]
            left = most - len(latencies[name]) - sum(errors[name].values())
            if left <= 0:
                continue
            elapsed[name] += _run(port, make_request, numbers[name], latencies[name], errors[name],
                                  seconds=seconds / rounds, max_requests=left, concurrency=concurrency, ok=ok)
    return {name: {**_summary(latencies[name], errors[name], elapsed[name], concurrency), "rounds": rounds}
            for name in kinds}


def _run(port: int, make_request: Callable[[int], Request], numbers: Iterator[int], latencies: list[float],
         errors: dict[str, int], *, seconds: float, max_requests: int, concurrency: int, ok: tuple[int, ...]) -> float:
    """`concurrency` clients for `seconds` (or `max_requests`), the requests numbered by `numbers`; each
    answer's latency, or its error, added to those given. Returns the seconds taken."""
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    taken = itertools.count()

    def client() -> None:
        while time.monotonic() < deadline:
            with lock:
                if next(taken) >= max_requests:
                    return
                number = next(numbers)
            method, path, body, headers = make_request(number)
            started = time.perf_counter()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                connection.request(method, path, body=body, headers={**headers, "Connection": "close"})
                response = connection.getresponse()
                response.read()
                status = response.status
                connection.close()
            except OSError as exc:
                status = type(exc).__name__
            elapsed = time.perf_counter() - started
            with lock:
                if status in ok:
                    latencies.append(elapsed)
                else:
                    errors[str(status)] = errors.get(str(status), 0) + 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def _summary(latencies: list[float], errors: dict[str, int], elapsed: float, concurrency: int) -> dict[str, Any]:
    return {"requests": len(latencies), "seconds": round(elapsed, 2), "requests_per_second": rate(len(latencies), elapsed),
            **latency_summary(latencies), "errors": errors, "concurrency": concurrency}


def healthz(_number: int) -> Request:
    return "GET", "/healthz", None, {}


def model_submission(token: str, organisation: str, run_tag: str) -> Callable[[int], Request]:
    """POST /api/v1/models/: a new model each time (a 201 each), as a lab would submit it."""
    def make(number: int) -> Request:
        record = {
            "organisation": organisation, "name": f"api-{run_tag}-{number}", "version": "1",
            "parameter_count": 7.0e10 + number, "training_tokens": 1.5e13, "general_purpose": True,
            "modalities": ["text"], "released_on": "2026-01-15",
        }
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        return "POST", "/api/v1/models/", json.dumps(record).encode(), headers
    return make
