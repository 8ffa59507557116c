"""The drills' processes: a Redis of their own, ASGI servers, Celery workers and beat, all
subprocesses on 127.0.0.1 in their own process groups, against the test database.

A drill test asks for the ``drill`` fixture (chaos/conftest.py): it gets a `Drill` whose
database is the test database pytest-django made (the test runs with ``transactional_db``, so
what the test writes is committed and the subprocesses see it), a Redis server started for the
drill alone on a free port (so a drill may stop, restart or flood it without touching the
Redis the rest of the suite uses), fresh secrets, and an environment that runs every process
as an operator would (``AVENTIDE_ENV=production``, DEBUG off, eager tasks off). Everything the
drill started is stopped when the test ends, also when it fails; the logs stay under the
test's ``tmp_path`` and their tails are shown on failure.

    def test_something(drill):
        web = drill.asgi_server(workers=2)
        worker = drill.celery_worker(concurrency=2)
        with drill.signing_keys():
            token = accounts.session_start(user=user, method="password").access
        ...  # load through web.base_url, faults through worker.kill(), drill.redis.restart()

Tokens minted in the test process must be signed with the drill's keys
(`Drill.signing_keys`): the subprocesses trust only those.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until(
    check: Callable[[], bool], *, timeout: float, interval: float = 0.2, what: str = "condition"
) -> None:
    """Poll ``check`` until it is true; ``TimeoutError`` naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout:.0f}s")


class Proc:
    """One subprocess in its own process group (``stop`` and ``kill`` reach its children)."""

    def __init__(self, name: str, cmd: list[str], *, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.cmd = cmd
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> Proc:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("a") as fh:
            fh.write(f"--- start #{self.starts + 1} at {time.time():.3f}: {' '.join(self.cmd)}\n")
            fh.flush()
            self.proc = subprocess.Popen(  # noqa: S603 (the drill's own commands)
                self.cmd,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was never started"
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def children(self) -> list[int]:
        """Pids of the live descendants (a prefork worker's pool, uvicorn's workers)."""
        import psutil

        if not self.alive():
            return []
        try:
            return [p.pid for p in psutil.Process(self.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the whole process group (SIGKILL: no cleanup, like an OOM kill)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        if sig == signal.SIGKILL:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM to the group, then SIGKILL after ``grace`` seconds."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace)
        # Whatever of the group outlived its leader goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def restart(self, grace: float = 15.0) -> Proc:
        self.stop(grace)
        return self.start()

    def log_tail(self, lines: int = 40) -> str:
        return f"--- {self.name}: {self.log} (tail) ---\n{tail(self.log, lines)}"


class RedisServer(Proc):
    """A redis-server of the drill's own, on a free loopback port, no persistence."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        cmd = [
            "redis-server", "--bind", HOST, "--port", str(self.port), "--save", "",
            "--appendonly", "no", "--dir", str(workdir), "--maxclients", "4000",
        ]  # fmt: skip
        super().__init__("redis", cmd, env=dict(os.environ), log=workdir / "redis.log")

    def url(self, db: int = 0) -> str:
        return f"redis://{HOST}:{self.port}/{db}"

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url(), socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def start(self) -> RedisServer:
        super().start()
        wait_until(self.ping, timeout=15, interval=0.05, what=f"redis on port {self.port}")
        return self

    def restart(self, grace: float = 15.0, down_seconds: float = 0.0) -> RedisServer:
        """Stop (its data is gone: no persistence), stay down ``down_seconds``, start again."""
        self.stop(grace)
        if down_seconds:
            time.sleep(down_seconds)
        return self.start()


class HttpServer(Proc):
    """``python -m aventide.server`` (the Procfile's web command) on a free port."""

    def __init__(self, name: str, *, env: dict[str, str], log: Path, workers: int) -> None:
        self.port = free_port()
        cmd = [sys.executable, "-m", "aventide.server", "--host", HOST, "--port", str(self.port)]
        super().__init__(name, cmd, env={**env, "WEB_CONCURRENCY": str(workers)}, log=log)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}/ws/realtime/"

    def ready(self) -> bool:
        import httpx

        try:
            return httpx.get(self.base_url + "/healthz", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def start(self, timeout: float = 90.0) -> HttpServer:
        super().start()

        def up() -> bool:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited during start\n{self.log_tail()}")
            return self.ready()

        wait_until(up, timeout=timeout, interval=0.25, what=f"{self.name} ready")
        return self


class Drill:
    """One drill's processes and environment (see the module docstring)."""

    def __init__(self, *, name: str, database_url: str, workdir: Path) -> None:
        self.name = name
        self.database_url = database_url
        self.workdir = workdir
        self.run_id = secrets.token_hex(6)
        self.secrets = {
            "SECRET_KEY": secrets.token_urlsafe(48),
            "JWT_SECRET": secrets.token_urlsafe(48),
            "ANON_SECRET": secrets.token_urlsafe(48),
        }
        self.redis = RedisServer(workdir / "redis")
        self.procs: list[Proc] = [self.redis]
        self.redis.start()

    # --- environment --------------------------------------------------------------------

    @property
    def queue(self) -> str:
        return f"chaos-{self.run_id}"

    def env(self, **extra: str) -> dict[str, str]:
        """The production environment every process of the drill runs with (``extra`` wins)."""
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        for key in (
            "JWT_SIGNING_KEYS", "ANON_SIGNING_KEYS", "CELERY_BROKER_URL", "CACHE_KEY_PREFIX",
            "CHANNEL_LAYER_PREFIX", "PYTEST_XDIST_WORKER", "DATABASE_TEST_NAME",
        ):  # fmt: skip
            env.pop(key, None)
        runtime = self.workdir / "runtime"
        env.update(
            AVENTIDE_ENV="production",
            DEBUG="false",
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis.url(0),
            CELERY_BROKER_URL=self.redis.url(1),
            CELERY_TASK_ALWAYS_EAGER="false",
            CELERY_TASK_DEFAULT_QUEUE=self.queue,
            ALLOWED_HOSTS=HOST,
            ENABLE_PUSH_NOTIFICATIONS="false",
            AVENTIDE_VAR_DIR=str(runtime),
            PROMETHEUS_MULTIPROC_DIR=str(runtime / "prometheus"),
            CACHE_KEY_PREFIX=f"aventide:chaos:{self.run_id}",
            CHANNEL_LAYER_PREFIX=f"aventide:chaos:{self.run_id}:ch",
            JWT_ACCESS_TTL_SECONDS="7200",
            # The drills load a few users hard; the API's throttles are not what they test.
            THROTTLE_USER="100000000/min",
            THROTTLE_ANON="100000000/min",
            WEBHOOK_SECRET_PAYMENTS=self.secrets["ANON_SECRET"] + "-payments",
            WEBHOOK_SECRET_COURIER=self.secrets["ANON_SECRET"] + "-courier",
            LOG_LEVEL="WARNING",
            **self.secrets,
        )
        (runtime / "prometheus").mkdir(parents=True, exist_ok=True)
        env.update(extra)
        return env

    @contextlib.contextmanager
    def signing_keys(self) -> Iterator[None]:
        """Mint tokens/identities in the test process with the keys the subprocesses trust."""
        from django.test import override_settings

        with override_settings(
            JWT_SIGNING_KEYS=[("default", self.secrets["JWT_SECRET"])],
            ANON_SIGNING_KEYS=[("default", self.secrets["ANON_SECRET"])],
        ):
            yield

    # --- processes ----------------------------------------------------------------------

    def _log(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    def asgi_server(self, *, workers: int = 1, name: str = "", **extra: str) -> HttpServer:
        """Start ``python -m aventide.server`` with ``workers`` processes; ready on return."""
        name = name or f"web{sum(isinstance(p, HttpServer) for p in self.procs) + 1}"
        server = HttpServer(name, env=self.env(**extra), log=self._log(name), workers=workers)
        self.procs.append(server)
        return server.start()

    def celery_worker(
        self, *, concurrency: int = 2, name: str = "", app: str = "aventide", **extra: str
    ) -> Proc:
        """Start the Procfile's Celery worker on the drill's queue (not waited for)."""
        name = name or f"worker{sum(p.name.startswith('worker') for p in self.procs) + 1}"
        cmd = [
            sys.executable, "-m", "celery", "-A", app, "worker", "--pool", "prefork",
            "--concurrency", str(concurrency), "--without-gossip", "--without-mingle",
            "--loglevel", "WARNING", "-Q", self.queue, "-n", f"{name}@{self.run_id}",
        ]  # fmt: skip
        worker = Proc(name, cmd, env=self.env(**extra), log=self._log(name))
        self.procs.append(worker)
        return worker.start()

    def celery_beat(self, *, app: str = "aventide", **extra: str) -> Proc:
        """Start Celery beat (its schedule file under the drill's workdir)."""
        cmd = [
            sys.executable, "-m", "celery", "-A", app, "beat", "--loglevel", "WARNING",
            "--schedule", str(self.workdir / "celerybeat-schedule"),
        ]  # fmt: skip
        beat = Proc("beat", cmd, env=self.env(**extra), log=self._log("beat"))
        self.procs.append(beat)
        return beat.start()

    def process(self, name: str, cmd: list[str], **extra: str) -> Proc:
        """Any other process of the drill (a load generator, a stub provider)."""
        proc = Proc(name, cmd, env=self.env(**extra), log=self._log(name))
        self.procs.append(proc)
        return proc.start()

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            proc.stop(grace=10)

    def logs(self, lines: int = 30) -> str:
        """The tails of every process's log (shown when a drill fails)."""
        return "\n".join(proc.log_tail(lines) for proc in self.procs)


def database_url_of(settings_dict: dict[str, Any]) -> str:
    """A ``postgres://`` URL for the database Django is connected to (the test database)."""
    user = settings_dict.get("USER") or "postgres"
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else f"{user}@"
    host = settings_dict.get("HOST") or HOST
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"
