"""Start the real server (`python -m aventide.server`) as a subprocess on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> set[int]:
        """The uvicorn worker processes (spawned children) of the launcher."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        pids = set()
        for pid in children.read_text().split():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if b"spawn_main" in cmdline:
                pids.add(int(pid))
        return pids

    def accepts_connections(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False


@contextmanager
def live_server(
    tmp_path: Path, env: Mapping[str, str], *, ready_path: str = "/healthz", workers: int = 1
) -> Iterator[LiveServer]:
    port = free_port()
    log_path = tmp_path / f"server-{port}.log"
    child_env = {**os.environ, "AVENTIDE_ENV": "test", "PYTHONUNBUFFERED": "1", **env}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "aventide.server", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: cleaned up as a whole below
        )
    server = LiveServer(process, port, log_path)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise AssertionError(f"server exited {process.returncode}:\n{server.log()[-3000:]}")
            started = server.log().count("Started server process")
            try:
                if (
                    started >= workers
                    and httpx.get(server.url + ready_path, timeout=5).status_code == 200
                ):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server not ready:\n{server.log()[-3000:]}")
            time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=60)
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # any worker left behind
        process.wait(timeout=10)
