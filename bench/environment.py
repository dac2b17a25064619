"""Where the benchmark runs: its own database (created and dropped around the run, next to the
configured one) and the environment of the processes it starts (phases, workers, web server)."""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
PYTHON = sys.executable
_RUN_SECRET_KEY = secrets.token_urlsafe(40)  # one key for every process of a run


class BenchError(Exception):
    pass


@dataclass
class BenchDatabase:
    """A database for the benchmark alone: PostgreSQL `bench_*` beside the configured one, or a
    SQLite file in a temporary folder when the configured database is SQLite."""

    vendor: str
    url: str
    name: str
    admin: dict[str, Any] = field(default_factory=dict)
    folder: str | None = None

    @classmethod
    def beside_configured(cls, name: str) -> BenchDatabase:
        configured = settings.DATABASES["default"]
        if "postgresql" in configured["ENGINE"]:
            if not name.startswith("bench_") or not name.replace("_", "").isalnum():
                raise BenchError(f"--database-name must start with bench_ and hold only letters, digits and _: {name!r}")
            user, password = configured.get("USER") or "", configured.get("PASSWORD") or ""
            host, port = configured.get("HOST") or "127.0.0.1", configured.get("PORT") or 5432
            auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
            url = f"postgres://{auth}@{host}:{port}/{name}"
            admin = {"host": host, "port": port, "user": user, "password": password, "dbname": configured["NAME"]}
            return cls("postgresql", url, name, admin=admin)
        folder = tempfile.mkdtemp(prefix="bench-")
        path = Path(folder) / f"{name}.sqlite3"
        return cls("sqlite", f"sqlite:///{path}", str(path), folder=folder)

    def _admin_execute(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(**{k: v for k, v in self.admin.items() if v != ""}, autocommit=True) as connection:
            connection.execute(statement)

    def create(self) -> None:
        if self.vendor == "postgresql":
            self._admin_execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self._admin_execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        if self.vendor == "postgresql":
            self._admin_execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        elif self.folder:
            for path in Path(self.folder).iterdir():
                path.unlink()
            Path(self.folder).rmdir()


def child_environment(database: BenchDatabase, *, redis_url: str = "", eager: bool = True) -> dict[str, str]:
    """The environment of every process the benchmark starts: its database, no TLS redirect on
    loopback, no API throttle (the load generator is one client), and the broker only when asked."""
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database.url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": os.environ.get("SECRET_KEY") or _RUN_SECRET_KEY,
        "CELERY_TASK_ALWAYS_EAGER": "1" if eager else "0",
        "SECURE_SSL_REDIRECT": "0",
        "API_THROTTLE_RATE": "100000000/min",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PYTHONPATH": str(BASE_DIR) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    })
    env.pop("TEST_DATABASE_NAME", None)
    return env


def _limit_memory(megabytes: int) -> None:
    import resource

    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def run_phase(name: str, arguments: dict[str, Any], *, env: dict[str, str], timeout: float | None = None,
              memory_limit_mb: int | None = None, optional: bool = False) -> dict[str, Any]:
    """Runs one phase in its own process; its last line of output is its result. An optional phase
    that fails, runs out of time or out of its memory limit gives {"reason": ...} instead."""
    try:
        completed = subprocess.run(
            [PYTHON, "-m", "bench.phases", name, json.dumps(arguments)], cwd=BASE_DIR, env=env,
            stdout=subprocess.PIPE, stderr=None, text=True, timeout=timeout, check=False,
            preexec_fn=(lambda: _limit_memory(memory_limit_mb)) if memory_limit_mb else None,
        )
    except subprocess.TimeoutExpired:
        return {"reason": f"stopped after {timeout:.0f} s"}
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        why = f"phase {name} failed (exit {completed.returncode})"
        if memory_limit_mb:
            why += f"; it was limited to {memory_limit_mb} MiB of address space"
        if optional:
            return {"reason": why}
        raise BenchError(why)
    return json.loads(lines[-1])


def manage(arguments: list[str], *, env: dict[str, str]) -> None:
    completed = subprocess.run([PYTHON, "manage.py", *arguments], cwd=BASE_DIR, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    if completed.returncode != 0:
        raise BenchError(f"manage.py {' '.join(arguments)} failed: {completed.stderr.strip()[-2000:]}")
