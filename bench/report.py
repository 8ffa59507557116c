"""The pure parts of the HTTP paths benchmark: statistics, the issue's floors, rendering.

No I/O and no application imports, so tests/bench can check them quickly.
"""

from __future__ import annotations

import dataclasses
import json
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: name -> (label, method, path template). Paths are the real API routes.
ENDPOINTS: dict[str, tuple[str, str, str]] = {
    "me": ("GET /api/auth/me", "GET", "/api/auth/me"),
    "orders": ("GET /api/orders", "GET", "/api/orders"),
    "create": ("POST /api/orders", "POST", "/api/orders"),
    "cancel": ("POST /api/orders/{id}/cancel", "POST", "/api/orders/{id}/cancel"),
    "send": (
        "POST /api/conversations/{id}/messages",
        "POST",
        "/api/conversations/{id}/messages",
    ),
    "me-async": ("GET /api/bench/me-async (async view)", "GET", "/api/bench/me-async"),
    "orders-async": (
        "GET /api/bench/orders-async (async view, async ORM)",
        "GET",
        "/api/bench/orders-async",
    ),
    "bare-async": ("bare Django view (async)", "GET", "/bare/async"),
    "bare-sync": ("bare Django view (sync)", "GET", "/bare/sync"),
}
APP_ENDPOINTS = ("me", "orders", "create", "cancel", "send", "me-async", "orders-async")
BARE_ENDPOINTS = ("bare-async", "bare-sync")
SELECTABLE = (*APP_ENDPOINTS, "bare", "psycopg")

#: Floors of issue 9 on the 2-core machine.
FLOOR_CLIENTS = 16
FLOOR_ME_VS_BARE = 0.6
FLOOR_CANCEL_RPS = 150.0
FLOOR_CANCEL_P95_MS = 150.0
#: Floors of issue 14 (the chat's send path, bench/send_message.py).
FLOOR_SEND_RPS = 250.0
FLOOR_SEND_P95_MS = 60.0


# --- statistics (pure) -------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct``-th percentile (0..100) by linear interpolation between closest ranks.

    Same definition as numpy's default (``method="linear"``): rank ``(n - 1) * pct / 100``.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= pct <= 100:
        raise ValueError("pct must be within 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class ErrorSample:
    status: int  # 0: no HTTP response (timeout, connection error)
    method: str
    path: str
    request_id: str
    body: str


@dataclass
class RunResult:
    """One measured run of one point (endpoint x concurrency)."""

    requests: int
    elapsed_s: float
    latencies_ms: list[float] = field(repr=False)
    errors: int = 0
    warmup_errors: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)
    error_samples: list[ErrorSample] = field(default_factory=list)
    server_cpu_s: float | None = None
    client_cpu_s: float | None = None
    pg_peak: int | None = None
    pg_after: int | None = None
    aborted: str | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        lat = self.latencies_ms
        return {
            "requests": self.requests,
            "elapsed_s": round(self.elapsed_s, 3),
            "rps": round(self.rps, 1),
            "p50_ms": round(percentile(lat, 50), 2) if lat else None,
            "p95_ms": round(percentile(lat, 95), 2) if lat else None,
            "p99_ms": round(percentile(lat, 99), 2) if lat else None,
            "max_ms": round(max(lat), 2) if lat else None,
            "errors": self.errors,
            "warmup_errors": self.warmup_errors,
            "aborted": self.aborted,
            "status_counts": self.status_counts,
            "server_cpu_ms_per_req": (
                round(self.server_cpu_s * 1000 / self.requests, 3)
                if self.server_cpu_s is not None and self.requests
                else None
            ),
            "client_cpu_ms_per_req": (
                round(self.client_cpu_s * 1000 / self.requests, 3)
                if self.client_cpu_s is not None and self.requests
                else None
            ),
            "pg_peak": self.pg_peak,
            "pg_after": self.pg_after,
            "error_samples": [dataclasses.asdict(e) for e in self.error_samples],
        }


def median_of(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def aggregate(endpoint: str, clients: int, runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A point's figures: the median of each figure over its runs; errors (warm-up included)
    summed, PG peak the maximum, ``aborted`` the first abort reason of a run."""
    peaks = [r["pg_peak"] for r in runs if r.get("pg_peak") is not None]
    return {
        "endpoint": endpoint,
        "label": ENDPOINTS.get(endpoint, (endpoint,))[0],
        "clients": clients,
        "runs": len(runs),
        "requests_per_run": runs[0]["requests"] if runs else 0,
        "rps": median_of([r["rps"] for r in runs]),
        "p50_ms": median_of([r["p50_ms"] for r in runs]),
        "p95_ms": median_of([r["p95_ms"] for r in runs]),
        "p99_ms": median_of([r["p99_ms"] for r in runs]),
        "errors": sum(r["errors"] + r.get("warmup_errors", 0) for r in runs),
        "aborted": next((r["aborted"] for r in runs if r.get("aborted")), None),
        "server_cpu_ms_per_req": median_of([r["server_cpu_ms_per_req"] for r in runs]),
        "client_cpu_ms_per_req": median_of([r["client_cpu_ms_per_req"] for r in runs]),
        "pg_peak": max(peaks) if peaks else None,
    }


def find_point(points: Sequence[dict[str, Any]], endpoint: str, clients: int) -> dict | None:
    for p in points:
        if p["endpoint"] == endpoint and p["clients"] == clients:
            return p
    return None


def floors(
    points: Sequence[dict[str, Any]],
    psycopg: dict[str, Any] | None,
    *,
    max_pg_connections: int | None = None,
) -> list[dict[str, Any]]:
    """The issue's floors and ratios; ``ok`` is None when a needed point was not measured."""
    out: list[dict[str, Any]] = []
    me = find_point(points, "me", FLOOR_CLIENTS)
    bare = find_point(points, "bare-async", FLOOR_CLIENTS)
    bare_sync = find_point(points, "bare-sync", FLOOR_CLIENTS)
    cancel = find_point(points, "cancel", FLOOR_CLIENTS)

    def ratio(a: dict | None, b: dict | None) -> float | None:
        if not a or not b or not a.get("rps") or not b.get("rps"):
            return None
        return round(a["rps"] / b["rps"], 3)

    r = ratio(me, bare)
    out.append(
        {
            "name": f"/api/auth/me at {FLOOR_CLIENTS} clients vs the bare async view",
            "value": r,
            "floor": f">= {FLOOR_ME_VS_BARE}x",
            "ok": None if r is None else r >= FLOOR_ME_VS_BARE,
        }
    )
    r_sync = ratio(me, bare_sync)
    out.append(
        {
            "name": f"/api/auth/me at {FLOOR_CLIENTS} clients vs the bare sync view (info)",
            "value": r_sync,
            "floor": "-",
            "ok": None,
        }
    )
    out.append(
        {
            "name": f"cancel at {FLOOR_CLIENTS} clients: req/s",
            "value": cancel["rps"] if cancel else None,
            "floor": f">= {FLOOR_CANCEL_RPS:g}",
            "ok": None if not cancel else (cancel["rps"] or 0) >= FLOOR_CANCEL_RPS,
        }
    )
    p95 = cancel["p95_ms"] if cancel else None
    out.append(
        {
            "name": f"cancel at {FLOOR_CLIENTS} clients: p95 ms",
            "value": p95,
            "floor": f"<= {FLOOR_CANCEL_P95_MS:g}",
            "ok": None if p95 is None else p95 <= FLOOR_CANCEL_P95_MS,
        }
    )
    commits = psycopg.get("commits_per_s") if psycopg else None
    out.append(
        {
            "name": f"cancel at {FLOOR_CLIENTS} clients vs raw psycopg commits/s (info)",
            "value": round(cancel["rps"] / commits, 4) if cancel and commits else None,
            "floor": "-",
            "ok": None,
        }
    )
    send = find_point(points, "send", FLOOR_CLIENTS)
    if send:
        out.append(
            {
                "name": f"send at {FLOOR_CLIENTS} clients: sends/s",
                "value": send["rps"],
                "floor": f">= {FLOOR_SEND_RPS:g}",
                "ok": (send["rps"] or 0) >= FLOOR_SEND_RPS,
            }
        )
        out.append(
            {
                "name": f"send at {FLOOR_CLIENTS} clients: p95 ms",
                "value": send["p95_ms"],
                "floor": f"<= {FLOOR_SEND_P95_MS:g}",
                "ok": send["p95_ms"] is not None and send["p95_ms"] <= FLOOR_SEND_P95_MS,
            }
        )
        out.append(
            {
                "name": f"send at {FLOOR_CLIENTS} clients vs raw psycopg commits/s (info)",
                "value": round(send["rps"] / commits, 4) if commits else None,
                "floor": "-",
                "ok": None,
            }
        )
    errors = sum(p["errors"] for p in points)
    aborted = any(p.get("aborted") for p in points)
    out.append(
        {
            "name": "non-2xx responses, all runs" + (" (a run was aborted)" if aborted else ""),
            "value": errors,
            "floor": "== 0",
            "ok": errors == 0 and not aborted,
        }
    )
    if max_pg_connections is not None:
        peak = max((p["pg_peak"] or 0 for p in points if p["endpoint"] in APP_ENDPOINTS), default=0)
        out.append(
            {
                "name": "peak PostgreSQL connections to the bench DB",
                "value": peak,
                "floor": f"<= {max_pg_connections}",
                "ok": peak <= max_pg_connections,
            }
        )
    return out


# --- report rendering (pure) ----------------------------------------------------------------


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _num(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{float(value):,.{digits}f}"


def render_table(points: Sequence[dict[str, Any]], queries: dict[str, Any] | None = None) -> str:
    """The results as a Markdown table (also readable in a terminal)."""
    queries = queries or {}
    header = (
        "| endpoint | clients | req/s | p50 ms | p95 ms | p99 ms | errors "
        "| server CPU ms/req | client CPU ms/req | peak PG conns | SQL queries (round trips) |"
    )
    lines = [header, "|" + "---|" * 11]
    for p in points:
        q = queries.get(p["endpoint"])
        q_text = f"{q['queries']} ({q['statements']})" if q else "-"
        lines.append(
            f"| {p['label']} | {p['clients']} | {_num(p['rps'])} | {_num(p['p50_ms'])} "
            f"| {_num(p['p95_ms'])} | {_num(p['p99_ms'])} "
            f"| {p['errors']}{' (aborted)' if p.get('aborted') else ''} "
            f"| {_num(p['server_cpu_ms_per_req'], 2)} | {_num(p['client_cpu_ms_per_req'], 2)} "
            f"| {_fmt(p['pg_peak'])} | {q_text} |"
        )
    return "\n".join(lines)


def render_psycopg(result: dict[str, Any] | None) -> str:
    if not result:
        return ""
    return (
        f"raw psycopg 3: {_fmt(result['commits_per_s'])} commits/s "
        f"({result['connections']} connections, {result['transactions']} transactions of "
        f"3 INSERTs + COMMIT per run, median of {len(result['runs'])}; "
        f"p50 {_fmt(result['p50_ms'], 2)} ms, p95 {_fmt(result['p95_ms'], 2)} ms per transaction)"
    )


def render_floors(rows: Sequence[dict[str, Any]]) -> str:
    lines = ["| check | value | floor | met |", "|---|---|---|---|"]
    for row in rows:
        met = "n/a" if row["ok"] is None else ("yes" if row["ok"] else "**NO**")
        if row["floor"] == "-":
            met = "-"
        value = row["value"]
        digits = 3 if isinstance(value, float) and abs(value) < 10 else 1
        lines.append(f"| {row['name']} | {_fmt(value, digits)} | {row['floor']} | {met} |")
    return "\n".join(lines)


def render_errors(points_runs: Sequence[tuple[str, int, dict[str, Any]]]) -> str:
    """The first error bodies of every run that had non-2xx answers."""
    out: list[str] = []
    for label, clients, run in points_runs:
        warmup_errors = run.get("warmup_errors", 0)
        if not run["errors"] and not warmup_errors and not run.get("aborted"):
            continue
        out.append(
            f"{label} at {clients} clients: {run['errors']} of {run['requests']} measured "
            f"requests failed, {warmup_errors} warm-up (statuses {run['status_counts']})"
            + (f"; ABORTED: {run['aborted']}" if run.get("aborted") else "")
        )
        for sample in run["error_samples"]:
            out.append(
                f"  {sample['status']} {sample['method']} {sample['path']} "
                f"requestId={sample['request_id']}: {sample['body'][:400]}"
            )
    return "\n".join(out)


def top_frames(speedscope: dict[str, Any], limit: int = 15) -> dict[str, list[tuple[str, float]]]:
    """Shares of the samples of a py-spy speedscope profile, all threads, by function.

    ``self``: the function on top of the stack; ``inclusive``: anywhere on the stack;
    ``app_inclusive``: the same for this repository's functions only (where the time goes in
    our code); ``packages_self``: self time by package (django, psycopg, asgiref, ...).
    """
    frames = speedscope["shared"]["frames"]
    names = [_frame_name(f) for f in frames]
    is_app = [_is_app_file(f.get("file") or "") for f in frames]
    self_counts: Counter[str] = Counter()
    total_counts: Counter[str] = Counter()
    app_counts: Counter[str] = Counter()
    package_counts: Counter[str] = Counter()
    total = 0.0
    for profile in speedscope.get("profiles", []):
        weights = profile.get("weights") or [1] * len(profile.get("samples", []))
        for stack, weight in zip(profile.get("samples", []), weights, strict=False):
            if not stack:
                continue
            total += weight
            self_counts[names[stack[-1]]] += weight
            package_counts[_package_of(frames[stack[-1]].get("file", ""))] += weight
            for name in {names[i] for i in stack}:
                total_counts[name] += weight
            for name in {names[i] for i in stack if is_app[i]}:
                app_counts[name] += weight
    if not total:
        return {"self": [], "inclusive": [], "app_inclusive": [], "packages_self": []}

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(limit)]

    return {
        "self": share(self_counts),
        "inclusive": share(total_counts),
        "app_inclusive": share(app_counts),
        "packages_self": share(package_counts),
    }


def _frame_name(frame: dict[str, Any]) -> str:
    """``function (file)``: py-spy records the executing line per frame; lines are merged."""
    file = frame.get("file") or ""
    short = re.sub(r"^.*/(site-packages|lib/python3\.\d+)/", "", file)
    short = short.replace(str(ROOT) + "/", "")
    return f"{frame.get('name', '?')} ({short})"


def _is_app_file(file: str) -> bool:
    return file.startswith(str(ROOT) + "/") and "/site-packages/" not in file


def _package_of(file: str) -> str:
    m = re.search(r"site-packages/([^/]+)", file)
    if m:
        return m.group(1).removesuffix(".py")
    if file.startswith(str(ROOT)):
        rel = Path(file).relative_to(ROOT).parts
        return "/".join(rel[:2]) if rel and rel[0] == "aventide" else (rel[0] if rel else "?")
    m = re.search(r"lib/python3\.\d+/([^/]+)", file)
    if m:
        return "stdlib:" + m.group(1).removesuffix(".py")
    return file or "?"


def render_profile(top: dict[str, list[tuple[str, float]]]) -> str:
    lines: list[str] = []
    for key, title in (
        ("packages_self", "self time by package"),
        ("self", "top functions, self time"),
        ("app_inclusive", "this repository's functions, inclusive time"),
        ("inclusive", "top functions, inclusive time"),
    ):
        lines.append(f"{title} (% of active samples):")
        lines.extend(f"  {pct:5.1f}%  {name}" for name, pct in top.get(key, []))
    return "\n".join(lines)


def server_errors(log_lines: Iterable[str], request_ids: Sequence[str] = ()) -> dict[str, Any]:
    """What the server logged about failures: error lines counted by their exception's last
    line, and the error lines of the given request ids (the sampled failed requests).

    Reads the JSON log lines of ``aventide.server``; other lines are skipped.
    """
    by_exception: Counter[str] = Counter()
    wanted = set(request_ids)
    per_request: dict[str, list[str]] = {}
    for raw in log_lines:
        if '"level": "error"' not in raw and '"level": "critical"' not in raw:
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        exception = str(line.get("exception") or "")
        last = next((x.strip() for x in reversed(exception.splitlines()) if x.strip()), "")
        summary = f"{line.get('event')}: {last}" if last else str(line.get("event"))
        by_exception[summary] += 1
        rid = line.get("requestId")
        if rid in wanted:
            per_request.setdefault(rid, []).append(summary)
    return {"by_exception": by_exception.most_common(10), "requests": per_request}


def render_server_errors(found: dict[str, Any]) -> str:
    lines = []
    if found["by_exception"]:
        lines.append("server log, error lines by exception:")
        lines.extend(f"  {n:6d}  {text[:300]}" for text, n in found["by_exception"])
    for rid, entries in found["requests"].items():
        lines.append(f"  {rid}: {' | '.join(e[:300] for e in entries)}")
    return "\n".join(lines)


def render_markdown(result: dict[str, Any]) -> str:
    """A saved run (the ``--json`` file) as the Markdown block bench/README.md records."""
    m = result.get("machine", {})
    settings = ", ".join(f"{k}={v}" for k, v in result.get("settings", {}).items())
    opts = result.get("options", {})
    lines = [
        f"**{result.get('started_at', '?')}**, commit `{result.get('commit', '?')}`, "
        f"{opts.get('workers', '?')} worker(s), {opts.get('requests', '?')} requests x "
        f"{opts.get('runs', '?')} runs per point (warm-up {opts.get('warmup', '?')}), "
        f"load generator {opts.get('generator', 'httpx')}; "
        f"load average {m.get('loadavg_start')} -> {m.get('loadavg_end')} on {m.get('nproc')} "
        f"CPUs; settings: {settings}",
        "",
        render_table(result.get("points", []), result.get("queries", {})),
    ]
    psy = render_psycopg(result.get("ceilings", {}).get("psycopg"))
    if psy:
        lines += ["", psy]
    lines += ["", render_floors(result.get("floors", []))]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.report RESULT.json [...]``: print saved runs as Markdown."""
    import sys

    paths = list(sys.argv[1:] if argv is None else argv)
    if not paths:
        sys.stderr.write("usage: python -m bench.report RESULT.json [RESULT.json ...]\n")
        return 2
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            sys.stdout.write(render_markdown(json.load(fh)) + "\n\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
