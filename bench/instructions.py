"""Instructions per chat send: the server's CPU work, counted by callgrind (bench/README.md).

The HTTP benchmark's figures move with the machine (this shared 2-core box ran the same
commit at 220 and 343 sends/s on one day); an instruction count does not. This runs
``bench/setup_data.py asgi-sends`` -- chat sends through the ASGI application in one
process: the app's ASGI stack, its thread hop, middleware, DRF, the send service, PostgreSQL
and Redis (everything but uvicorn's HTTP parsing) -- under ``valgrind --tool=callgrind``
with instrumentation on only while the measured sends run, and prints the instructions per
send. Run-to-run spread is about 0.5% on an idle box (up to 2% beside other work): use it
to A/B a change (``--checkout`` twice, e.g. a
``git worktree`` of the commit before; the sender is always this checkout's, the application
the measured one's), then confirm with ``bench/send_message.py``.

    python -m bench.instructions                                   # this checkout
    python -m bench.instructions --checkout /tmp/wt_base --checkout .   # A/B, A first

Needs valgrind (``apt-get install -y valgrind``), PostgreSQL and Redis on 127.0.0.1. Each
checkout runs with its own ``.venv`` (a worktree may link the main one). The database is
created and migrated if needed and seeded like bench/send_message.py's (16 chats).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.http_paths import (
    DEFAULT_REDIS_URL,
    check_loopback,
    new_run_secrets,
    prepare_database,
    run_checked,
    server_env,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/aventide_bench_send"
_COLLECTED_RE = re.compile(r"Collected : (\d+)")


def _env_args(args: argparse.Namespace) -> argparse.Namespace:
    """What ``server_env`` reads, for one process (no server is started)."""
    return argparse.Namespace(
        var_dir=args.var_dir,
        database_url=args.database_url,
        redis_url=args.redis_url,
        workers=1,
        token_ttl=6 * 3600,
        env=[],
    )


def measure(checkout: Path, args: argparse.Namespace, env: dict[str, str], tag: str) -> float:
    """Instructions per send of ``checkout`` (one callgrind run); with ``--no-valgrind`` the
    sender's CPU milliseconds per send instead (a smoke check, as noisy as the box)."""
    python = checkout / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{checkout} has no .venv (a worktree may link one: ln -s ...)")
    var = Path(args.var_dir)
    var.mkdir(parents=True, exist_ok=True)
    out, log = var / f"callgrind-{tag}.out", var / f"callgrind-{tag}.log"
    read_fd, write_fd = os.pipe()
    valgrind = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
    ]
    cmd = [
        *([] if args.no_valgrind else valgrind),
        str(python),
        # this checkout's sender (an older checkout may not have it), the measured one's app
        str(ROOT / "bench" / "setup_data.py"),
        "asgi-sends",
        "--sends",
        str(args.sends),
        "--concurrency",
        str(args.concurrency),
        "--control-fd",
        str(write_fd),
        "--out",
        str(var / f"callgrind-{tag}.json"),
    ]
    with open(log, "w", encoding="utf-8") as log_fh:
        proc = subprocess.Popen(
            cmd,
            cwd=checkout,
            env={**env, "PYTHONHASHSEED": "0", "PYTHONPATH": str(checkout)},
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=log_fh,
            pass_fds=(write_fd,),
            text=True,
        )
    os.close(write_fd)
    assert proc.stdin is not None
    with os.fdopen(read_fd) as control:
        if control.readline().strip() != "ready":
            proc.wait(timeout=60)
            raise SystemExit(f"{checkout}: the sender did not start; see {log}")
        toggle = ["callgrind_control", "-i"]
        if not args.no_valgrind:
            run_checked([*toggle, "on", str(proc.pid)], env=env, log=log, timeout=60)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        done = control.readline().split()
        if not args.no_valgrind:
            run_checked([*toggle, "off", str(proc.pid)], env=env, log=log, timeout=60)
    proc.stdin.close()
    if proc.wait(timeout=600) != 0 or len(done) != 3 or done[0] != "done":
        raise SystemExit(f"{checkout}: the sends failed; see {log}")
    if args.no_valgrind:
        return float(done[1]) * 1000 / args.sends  # CPU ms per send
    match = _COLLECTED_RE.search(log.read_text(encoding="utf-8"))
    if match is None:
        raise SystemExit(f"{checkout}: no instruction count in {log}")
    return int(match.group(1)) / args.sends


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkout",
        action="append",
        type=Path,
        help="a checkout to measure (repeatable; default: this one)",
    )
    parser.add_argument("--sends", type=int, default=200, help="measured sends (default 200)")
    parser.add_argument("--concurrency", type=int, default=4, help="sends in flight (default 4)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per checkout (default 1)")
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_SEND_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--var-dir", default=str(ROOT / "var" / "bench"))
    parser.add_argument("--reset-db", action="store_true", help="drop the database first")
    parser.add_argument("--json", dest="json_path", help="also write the figures here")
    parser.add_argument(
        "--no-valgrind",
        action="store_true",
        help="no callgrind: CPU ms per send (noisy; a smoke check of the sender)",
    )
    args = parser.parse_args(argv)
    unit = "CPU ms" if args.no_valgrind else "instructions"
    if not args.no_valgrind and (
        shutil.which("valgrind") is None or shutil.which("callgrind_control") is None
    ):
        raise SystemExit("valgrind is needed: apt-get install -y valgrind")
    check_loopback(args.database_url, "--database-url")
    check_loopback(args.redis_url, "--redis-url")
    checkouts = [c.resolve() for c in (args.checkout or [ROOT])]
    env = server_env(_env_args(args), new_run_secrets())
    Path(env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
    log = Path(args.var_dir) / "instructions-setup.log"
    Path(args.var_dir).mkdir(parents=True, exist_ok=True)
    prepare_database(argparse.Namespace(database_url=args.database_url, reset_db=args.reset_db))
    run_checked(
        [str(checkouts[0] / ".venv" / "bin" / "python"), "manage.py", "migrate", "--noinput"],
        env=env,
        log=log,
        timeout=600,
    )
    results: dict[str, list[float]] = {str(c): [] for c in checkouts}
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for round_ in range(args.repeat):
        for i, checkout in enumerate(checkouts):
            per_send = measure(checkout, args, env, f"{stamp}-{round_}-{i}")
            results[str(checkout)].append(per_send)
            shown = f"{per_send:.3f}" if args.no_valgrind else f"{per_send:,.0f}"
            print(f"{checkout}: {shown} {unit} per send", flush=True)
    medians = {c: sorted(v)[len(v) // 2] for c, v in results.items()}
    if len(checkouts) > 1:
        first = medians[str(checkouts[0])]
        for checkout in checkouts[1:]:
            ratio = medians[str(checkout)] / first
            print(f"{checkout} / {checkouts[0]}: {ratio:.3f}")
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as fh:
            figures = {
                "unit": f"{unit} per send",
                "sends": args.sends,
                "concurrency": args.concurrency,
                "runs": results,
            }
            json.dump(figures, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
