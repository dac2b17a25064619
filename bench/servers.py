"""Processes the benchmark starts and stops: Celery workers (the scale-out) and gunicorn (the API),
each with the benchmark's own environment, on loopback only."""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from .environment import BASE_DIR, BenchError
from .measure import peak_rss_mb

BIN = os.path.dirname(os.path.abspath(sys.executable))


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def celery_workers(count: int, *, env: dict[str, str], peaks: list[float | None],
                   purge: bool = True) -> Iterator[list[subprocess.Popen]]:
    """`count` worker processes (`celery -A config worker --pool solo`), each taking one chunk at a
    time; `peaks` receives each one's peak resident memory (MiB) when they stop. The queues are
    emptied first unless `purge` is false (the workers are to take what is queued)."""
    if purge:
        subprocess.run([os.path.join(BIN, "celery"), "-A", "config", "purge", "-f"], cwd=BASE_DIR, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    processes = [
        subprocess.Popen(
            [os.path.join(BIN, "celery"), "-A", "config", "worker", "--pool", "solo", "--loglevel", "WARNING",
             "-n", f"bench{index}-{os.getpid()}@%h", "--without-gossip", "--without-mingle"],
            cwd=BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for index in range(1, count + 1)
    ]
    try:
        yield processes
    finally:
        peaks.extend(peak_rss_mb(process.pid) for process in processes)
        _stop(processes)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(*, env: dict[str, str], workers: int) -> Iterator[int]:
    """gunicorn serving the project on 127.0.0.1 at a free port; yields the port once /healthz answers."""
    port = free_port()
    process = subprocess.Popen(
        [os.path.join(BIN, "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--log-level", "warning"],
        cwd=BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise BenchError(f"gunicorn exited with {process.returncode}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchError("gunicorn did not answer /healthz within 60 s")
            time.sleep(0.2)
        yield port
    finally:
        _stop([process])
