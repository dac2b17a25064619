"""A small concurrent load generator on loopback: threads, one request at a time each, bounded in
time and in count. Compares the API's model submission with the trivial /healthz of the same server."""
from __future__ import annotations

import http.client
import itertools
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from .measure import latency_summary, rate

Request = tuple[str, str, bytes | None, dict[str, str]]


def load(port: int, make_request: Callable[[int], Request], *, seconds: float, max_requests: int,
         concurrency: int, ok: tuple[int, ...]) -> dict[str, Any]:
    """Requests per second, latency percentiles and errors for `seconds` (or `max_requests`)."""
    numbers = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < deadline:
            with lock:
                number = next(numbers)
            if number >= max_requests:
                return
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
    elapsed = time.perf_counter() - started
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
