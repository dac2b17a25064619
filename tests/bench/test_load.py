"""The load generator's turns (`bench.load.alternating`): each kind of request in slices taken in
turn, the order reversed every other round, each request numbered once across its slices, each kind
bounded by its own count, and the answers it did not expect counted as errors."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.load import alternating


class Server:
    def __init__(self) -> None:
        self.paths: list[str] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                with server.lock:
                    server.paths.append(self.path)
                status = 500 if self.path.startswith("/fail") else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.httpd.shutdown()


def kind(prefix: str):
    return lambda number: ("GET", f"/{prefix}/{number}", None, {})


def test_each_kind_is_taken_in_turns_its_requests_numbered_once(server):
    result = alternating(server.port, {"a": (kind("a"), (200,), 10_000), "b": (kind("b"), (200,), 10_000)},
                         seconds=0.6, concurrency=2, rounds=4)
    assert result["a"]["rounds"] == result["b"]["rounds"] == 4
    assert result["a"]["requests"] > 0 and result["b"]["requests"] > 0
    assert not result["a"]["errors"] and not result["b"]["errors"]
    assert 0 < result["a"]["seconds"] < 1.5 and result["a"]["requests_per_second"] > 0
    turns = [path.split("/")[1] for path in server.paths]
    changes = [turns[0]] + [now for before, now in zip(turns, turns[1:], strict=False) if now != before]
    assert changes == ["a", "b", "a", "b", "a"], changes  # A B, B A, A B, B A
    for prefix in ("a", "b"):
        numbers = sorted(int(path.split("/")[2]) for path in server.paths if path.startswith(f"/{prefix}/"))
        assert numbers == list(range(len(numbers)))  # each number once, none skipped, across the slices


def test_a_kind_stops_at_its_count_and_the_other_goes_on(server):
    result = alternating(server.port, {"a": (kind("a"), (200,), 3), "b": (kind("b"), (200,), 10_000)},
                         seconds=0.4, concurrency=2, rounds=4)
    assert result["a"]["requests"] == 3
    assert result["b"]["requests"] > 3


def test_answers_not_expected_are_errors_by_status(server):
    result = alternating(server.port, {"fail": (kind("fail"), (200,), 5)}, seconds=0.5, concurrency=1, rounds=2)
    assert result["fail"]["requests"] == 0 and result["fail"]["errors"] == {"500": 5}
