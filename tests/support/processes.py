"""Real processes for the fault tests: a private PostgreSQL cluster and a private Redis that a test
may stop, kill and start again, and the registry's own processes (manage.py commands, a Celery
worker, gunicorn) pointed at them. Nothing here touches the machine's own PostgreSQL or Redis."""
from __future__ import annotations

import glob
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEADLINE_S = 120


def wait_for(condition: Callable[[], Any], *, what: str, timeout: float = DEADLINE_S, every: float = 0.2) -> Any:
    """Polls until `condition()` is truthy and returns it; fails naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


def free_port(first: int, last: int) -> int:
    """A port in [first, last] nothing listens on (tried in random order: parallel runs rarely collide)."""
    ports = list(range(first, last + 1))
    random.shuffle(ports)
    for port in ports:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    pytest.skip(f"no free port in {first}-{last}")


def _postgres_bin(name: str) -> Path | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]) if found else (Path(shutil.which(name)) if shutil.which(name) else None)


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (trust authentication, 127.0.0.1 only) in its own directory.

    initdb refuses to run as root: as root the cluster belongs to the `postgres` system user."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.initdb, self.pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
        if self.initdb is None or self.pg_ctl is None:
            pytest.skip("needs PostgreSQL's initdb and pg_ctl")
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                pytest.skip("running as root needs runuser to start PostgreSQL as the postgres user")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.root = Path(tempfile.mkdtemp(prefix="registry-pg-"))
        self.data, self.log = self.root / "data", self.root / "postgres.log"
        if self.as_user:
            shutil.chown(self.root, user="postgres")

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = DEADLINE_S) -> subprocess.CompletedProcess:
        return subprocess.run([*self.as_user, *args], capture_output=True, text=True, timeout=timeout, cwd=self.root)

    def create(self) -> None:
        done = self._run(str(self.initdb), "-D", str(self.data), "--auth=trust", "--username=postgres",
                         "--encoding=UTF8", "--locale=C", "--no-sync")
        assert done.returncode == 0, done.stderr
        self.start()

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c full_page_writes=off -c max_connections=50")
        done = self._run(str(self.pg_ctl), "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")
        assert done.returncode == 0, done.stdout + done.stderr + self.log_text()

    def stop(self, *, mode: str = "fast") -> None:
        """`fast` ends sessions and shuts down cleanly; `immediate` is a crash: recovery runs on start."""
        done = self._run(str(self.pg_ctl), "-D", str(self.data), "-m", mode, "-w", "stop")
        assert done.returncode == 0, done.stdout + done.stderr

    def restart(self, *, mode: str = "immediate") -> None:
        self.stop(mode=mode)
        self.start()

    def createdb(self, name: str) -> None:
        done = self._run(str(_postgres_bin("createdb")), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        assert done.returncode == 0, done.stderr

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.pg_ctl), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    """A redis-server that keeps nothing on disk. Its password keeps its clients off any other Redis
    that might take the port while it is down."""

    def __init__(self, port: int, workdir: Path) -> None:
        if shutil.which("redis-server") is None:
            pytest.skip("needs redis-server to run a private broker")
        self.port, self.workdir, self.process = port, workdir, None
        self.password = uuid.uuid4().hex
        self.url = f"redis://:{self.password}@127.0.0.1:{port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--requirepass", self.password],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for(self.ping, what=f"redis-server on port {self.port}", timeout=20)

    def ping(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(f"AUTH {self.password}\r\nPING\r\n".encode())
                reply = b""
                while len(reply) < 12 and (data := conn.recv(64)):
                    reply += data
                return reply.startswith(b"+OK\r\n+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=20)
        self.process = None


class Registry:
    """The registry's processes on a given database and broker: manage.py commands, workers, gunicorn."""

    def __init__(self, *, database_url: str, redis_url: str, logs: Path, **env: str) -> None:
        self.logs = logs
        self.processes: list[subprocess.Popen] = []
        self.env = {key: value for key, value in os.environ.items()
                    if key not in {"TEST_DATABASE_NAME", "DATABASE_URL", "REDIS_URL", "PYTEST_CURRENT_TEST", "DEBUG"}}
        self.env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, SECRET_KEY=uuid.uuid4().hex * 2,
                        CELERY_TASK_ALWAYS_EAGER="0", DJANGO_SETTINGS_MODULE="config.settings", PYTHONUNBUFFERED="1",
                        REGISTRY_VAR_DIR=str(logs / "var"), **env)

    def manage(self, *args: str, timeout: float = DEADLINE_S, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=self.env, capture_output=True,
                              text=True, timeout=timeout, input=stdin)

    def manage_in_background(self, *args: str) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=self.env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.processes.append(process)
        return process

    def _logged(self, name: str, command: list[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(command, cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        process.log = log
        self.processes.append(process)
        return process

    def start_worker(self, *, concurrency: int = 1) -> subprocess.Popen:
        name = f"worker-{uuid.uuid4().hex[:8]}"
        return self._logged(name, [str(BIN / "celery"), "-A", "config", "worker", "--pool", "prefork",
                                   "--concurrency", str(concurrency), "-Q", "evaluations,reports", "--without-heartbeat",
                                   "--without-gossip", "--without-mingle", "--loglevel", "INFO", "-n", f"{name}@%h"])

    def start_web(self, port: int) -> subprocess.Popen:
        web = self._logged("web", [str(BIN / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                                   "--timeout", "60"])

        def answers() -> bool:
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", port)) == 0

        wait_for(answers, what=f"gunicorn on port {port}", timeout=60)
        return web

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL to the process and its children: nothing acknowledged, nothing cleaned up."""
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)
        if getattr(process, "log", None):
            process.log.close()

    def log_text(self, *, tail: int | None = 6000) -> str:
        """The processes' logs (the last `tail` characters of each; None: all of them)."""
        texts = (path.read_text(errors="replace") for path in sorted(self.logs.glob("*.log")))
        return "\n".join(text[-tail:] if tail else text for text in texts)

    def stop_all(self) -> None:
        for process in self.processes:
            self.kill(process)
