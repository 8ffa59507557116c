"""The mutation run: map lines to tests, run each mutant against its tests, report.

Steps (``python -m tools.mutation``; ``make mutation``):

1. Copy the repository (without .git, .venv, var, caches) into ``--jobs`` throw-away
   workspaces under ``var/mutation/``. Mutants are only ever written there: the working
   tree is never modified, whatever happens to the run.
2. Coverage map: the whole suite once in workspace 0 (``pytest -n JOBS --cov-context=test``)
   on the configured database; it must pass. Each covered line of the mutated modules gets
   the tests that executed it (setup and call), each test its duration.
3. Each mutant, in a worker's workspace: write the mutated module, run only the tests that
   executed the mutant's lines (statements at module or class level run at import time: all
   tests that cover the module), fastest and nearest first, ``pytest -x``; restore the
   module. Exit 0 = survived; failures/errors = killed; over the time limit = timeout
   (killed). No covering test = ``no_coverage`` (counts as survived).
4. Mutants in the reviewed allow-list (``tools/mutation/equivalent.txt``) are equivalent:
   not run, not counted. Score = (killed + timeout) / (mutants - equivalent).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.mutation.operators import OPERATORS, Mutant, apply, mutants_of, name_uses

DEFAULT_MODULES = (
    "aventide/ledger/services.py",
    "aventide/orders/services.py",
    "audit/services.py",
    "audit/merkle.py",
    "aventide/accounts/scope.py",
    "aventide/accounts/tokens.py",
)
REPO = Path(__file__).resolve().parents[2]
EQUIVALENT_FILE = REPO / "tools" / "mutation" / "equivalent.txt"
COPY_IGNORE = (
    ".git",
    ".venv",
    "var",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    ".import_linter_cache",
    "node_modules",
    ".coverage*",
)
PLUGIN = "tools.mutation.pytest_plugin"
#: seconds assumed for a test (or a whole file given with --tests) the coverage run did not time
UNKNOWN_DURATION = 120.0
KILLED, SURVIVED, TIMEOUT, NO_COVERAGE, EQUIVALENT, ERROR = (
    "killed",
    "survived",
    "timeout",
    "no_coverage",
    "equivalent",
    "error",
)


# --- equivalent mutants ---------------------------------------------------------------------


def load_equivalent(path: Path) -> dict[str, str]:
    """``<mutant id> <reason>`` per line; ``#`` starts a comment. A reason is mandatory."""
    entries: dict[str, str] = {}
    if not path.exists():
        return entries
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        mutant_id, _, reason = line.partition(" ")
        if not reason.strip():
            raise SystemExit(f"{path}:{number}: an equivalent mutant needs a one-line reason")
        entries[mutant_id] = reason.strip()
    return entries


# --- workspaces -----------------------------------------------------------------------------


def make_workspace(target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(REPO, target, ignore=shutil.ignore_patterns(*COPY_IGNORE))
    (target / "var").mkdir(exist_ok=True)
    return target


def _db_url(base: str, suffix: str) -> str:
    """The configured PostgreSQL URL with its database name suffixed (one per worker)."""
    head, sep, name = base.rpartition("/")
    name, qsep, query = name.partition("?")
    if not sep or not name:
        raise SystemExit(f"DATABASE_URL needs a database name: {base!r}")
    return f"{head}/{name}_{suffix}{qsep}{query}"


def subprocess_env(database_url: str, report: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        REQUIRE_SERVICES="1",
        AVENTIDE_ENV=env.get("AVENTIDE_ENV", "test"),
        MUTATION_REPORT=str(report),
        PYTHONHASHSEED="0",
    )
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
    return env


_RUNNING: set[int] = set()  # process groups of the pytest runs in flight


def _stop_running(signum: int, _frame: object) -> None:
    """SIGTERM/SIGINT: end the pytest runs this process started, then exit."""
    for pgid in list(_RUNNING):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    raise SystemExit(128 + signum)


def run_pytest(
    workspace: Path,
    args: Sequence[str],
    env: dict[str, str],
    timeout: float | None,
    log: Path,
) -> tuple[int | None, float]:
    """Run pytest in ``workspace``; (exit status or None on timeout, seconds)."""
    command = [sys.executable, "-m", "pytest", "-p", PLUGIN, *args]
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(  # noqa: S603 -- our own interpreter and arguments
            command,
            cwd=workspace,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _RUNNING.add(proc.pid)
        try:
            status: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the pytest we started and its children
            proc.wait()
            status = None
        finally:
            _RUNNING.discard(proc.pid)
    return status, time.monotonic() - started


# --- coverage map ---------------------------------------------------------------------------


@dataclass
class CoverageMap:
    #: module -> line -> test node ids that executed it
    lines: dict[str, dict[int, list[str]]]
    #: module -> every test that executed any line of it
    module_tests: dict[str, list[str]]
    durations: dict[str, float]
    fingerprint: str

    def tests_for(self, mutant: Mutant, source: str) -> list[str]:
        """The tests that executed the mutant's lines.

        Module level code runs at import, before any test: a ``NAME = ...`` statement selects
        the tests that executed the lines using NAME; anything else (a class or function
        header, a decorator, a default argument) every test covering the module.
        """
        by_line = self.lines.get(mutant.path, {})
        if mutant.in_function:
            lines = list(range(mutant.first_line, mutant.last_line + 1))
        elif mutant.names and (uses := name_uses(source, mutant.names)):
            lines = uses
        else:
            return addressable(self.module_tests.get(mutant.path, []))
        found: set[str] = set()
        for line in lines:
            found.update(by_line.get(line, []))
        return addressable(found)


def addressable(node_ids: Iterable[str]) -> list[str]:
    """Node ids pytest can select on its command line, sorted and unique.

    A parameter id holding ``/`` or ``::`` (``test_x[POST /api/orders]``) is not found when
    passed back to pytest (it splits the id there), which made the whole run a usage error;
    such a test is selected by its function instead, i.e. with all its parameters.
    """
    out: set[str] = set()
    for node_id in node_ids:
        base, bracket, params = node_id.partition("[")
        if bracket and ("/" in params or "::" in params):
            out.add(base)
        else:
            out.add(node_id)
    return sorted(out)


def tree_fingerprint(modules: Sequence[str]) -> str:
    digest = hashlib.sha256()
    files = [REPO / m for m in modules]
    files += sorted((REPO / "tests").rglob("*.py"))
    files += [REPO / "pyproject.toml"]
    for path in files:
        digest.update(str(path.relative_to(REPO)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def build_coverage_map(
    workspace: Path, modules: Sequence[str], database_url: str, jobs: int, out: Path
) -> CoverageMap:
    rc = workspace / ".mutation-coveragerc"
    data_file = workspace / ".coverage.mutation"
    include = "\n    ".join(modules)
    rc.write_text(
        f"[run]\ninclude =\n    {include}\nrelative_files = True\nbranch = False\n"
        f"data_file = {data_file}\n",
        encoding="utf-8",
    )
    report = out / "coverage-run.json"
    args = [
        "-n",
        str(jobs),
        "--cov",
        f"--cov-config={rc}",
        "--cov-context=test",
        "--cov-report=",
        "-q",
        "--create-db",
        "--hypothesis-seed=0",
        "--timeout=900",  # coverage tracing slows every test; the map run is not a benchmark
    ]
    print(f"[mutation] coverage map: the whole suite, -n {jobs} ...", flush=True)
    status, seconds = run_pytest(
        workspace,
        args,
        subprocess_env(_db_url(database_url, "mcov"), report),
        None,
        out / "coverage-run.log",
    )
    if status != 0:
        raise SystemExit(
            f"[mutation] the suite does not pass unmutated (exit {status}); "
            f"see {out / 'coverage-run.log'}"
        )
    print(f"[mutation] coverage map done in {seconds:.0f}s", flush=True)
    from coverage import CoverageData

    data = CoverageData(basename=str(data_file))
    data.read()
    lines: dict[str, dict[int, list[str]]] = {}
    module_tests: dict[str, list[str]] = {}
    for measured in data.measured_files():
        rel = next((m for m in modules if measured.replace("\\", "/").endswith(m)), None)
        if rel is None:
            continue
        per_line: dict[int, list[str]] = {}
        everyone: set[str] = set()
        for line, contexts in data.contexts_by_lineno(measured).items():
            tests = sorted({c.rsplit("|", 1)[0] for c in contexts if c})
            if tests:
                per_line[line] = tests
                everyone.update(tests)
        lines[rel] = per_line
        module_tests[rel] = sorted(everyone)
    durations = json.loads(report.read_text(encoding="utf-8"))["durations"]
    return CoverageMap(lines, module_tests, durations, tree_fingerprint(modules))


def load_or_build_map(
    workspace: Path,
    modules: Sequence[str],
    database_url: str,
    jobs: int,
    out: Path,
    reuse: bool,
) -> CoverageMap:
    cached = out / "coverage-map.json"
    fingerprint = tree_fingerprint(modules)
    if reuse and cached.exists():
        raw = json.loads(cached.read_text(encoding="utf-8"))
        if raw["fingerprint"] == fingerprint:
            print("[mutation] coverage map reused (modules and tests unchanged)", flush=True)
            return CoverageMap(
                lines={m: {int(k): v for k, v in ls.items()} for m, ls in raw["lines"].items()},
                module_tests=raw["module_tests"],
                durations=raw["durations"],
                fingerprint=fingerprint,
            )
    cmap = build_coverage_map(workspace, modules, database_url, jobs, out)
    cached.write_text(json.dumps(asdict(cmap)), encoding="utf-8")
    return cmap


# --- running mutants ------------------------------------------------------------------------


@dataclass
class Result:
    id: str
    path: str
    line: int
    operator: str
    status: str
    tests: int = 0
    seconds: float = 0.0
    killed_by: list[str] = field(default_factory=list)
    reason: str = ""
    diff: str = ""


def _area(path: str) -> str:
    parts = Path(path).with_suffix("").parts
    return parts[-2] if len(parts) >= 2 else parts[0]


def order_tests(tests: Iterable[str], module: str, durations: dict[str, float]) -> list[str]:
    """Tests of the module's own area first (tests/ledger for ledger), then fastest first."""
    area = _area(module)
    return sorted(
        tests,
        key=lambda t: (f"tests/{area}/" not in t, durations.get(t, 1.0), t),
    )


def mutant_diff(source: str, mutated: str) -> str:
    lines = difflib.unified_diff(source.splitlines(), mutated.splitlines(), n=0, lineterm="")
    return "\n".join(line for line in lines if line[:1] in "+-" and line[:3] not in {"---", "+++"})


class Worker:
    """One workspace and one test database; runs one mutant at a time."""

    def __init__(self, index: int, workspace: Path, database_url: str, out: Path) -> None:
        self.index = index
        self.workspace = workspace
        self.database_url = _db_url(database_url, f"mw{index}")
        self.out = out
        self.fresh_db = True  # first run (and after a timeout) recreates the test database
        self.counter = 0

    def run(
        self,
        mutant: Mutant,
        source: str,
        tests: list[str],
        timeout: float,
        stop_first: bool,
        per_test_timeout: float,
    ) -> tuple[str, float, list[str]]:
        target = self.workspace / mutant.path
        original_stat = target.stat()
        pyc = Path(importlib.util.cache_from_source(str(target)))
        report = self.out / f"worker-{self.index}.json"
        report.unlink(missing_ok=True)
        self.counter += 1
        try:
            target.write_text(apply(source, mutant), encoding="utf-8")
            # a distinct mtime per mutant, and no cached bytecode: never a stale module
            bumped = original_stat.st_mtime_ns + self.counter * 1_000_000_000
            os.utime(target, ns=(bumped, bumped))
            pyc.unlink(missing_ok=True)
            shutil.rmtree(self.workspace / ".hypothesis", ignore_errors=True)
            args = ["-q", "--no-header", "-p", "no:pytest_cov", "--hypothesis-seed=0"]
            args.append(f"--timeout={per_test_timeout:.0f}")  # an endless loop fails fast
            args += ["--create-db" if self.fresh_db else "--reuse-db"]
            if stop_first:
                args.append("-x")
            status, seconds = run_pytest(
                self.workspace,
                [*args, *tests],
                subprocess_env(self.database_url, report),
                timeout,
                self.out / f"worker-{self.index}.log",
            )
        finally:
            target.write_text(source, encoding="utf-8")
            os.utime(target, ns=(original_stat.st_atime_ns, original_stat.st_mtime_ns))
            pyc.unlink(missing_ok=True)
        self.fresh_db = status is None
        if status is None:
            return TIMEOUT, seconds, []
        failed: list[str] = []
        if report.exists():
            failed = json.loads(report.read_text(encoding="utf-8"))["failed"]
        if status == 0:
            return SURVIVED, seconds, []
        if status in (1, 2, 3):
            return KILLED, seconds, failed or [f"pytest exit {status}"]
        return ERROR, seconds, [f"pytest exit {status}"]


def run(args: argparse.Namespace) -> int:
    modules: list[str] = [m for chunk in args.modules for m in re.split(r"[\s,]+", chunk) if m]
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    equivalent = load_equivalent(Path(args.equivalent))
    operators = tuple(args.operators.split(",")) if args.operators else OPERATORS
    sources = {m: (REPO / m).read_text(encoding="utf-8") for m in modules}
    mutants = [mu for m in modules for mu in mutants_of(m, sources[m], operators)]
    if args.select:
        pattern = re.compile(args.select)
        mutants = [m for m in mutants if pattern.search(m.id)]
    if args.list:
        for mutant in mutants:
            mark = "  [equivalent]" if mutant.id in equivalent else ""
            source = sources[mutant.path]
            print(f"{mutant.id}{mark}\n{mutant_diff(source, apply(source, mutant))}")
        return 0
    database_url = args.database_url or os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit(
            "[mutation] needs PostgreSQL (the lock tests count): set DATABASE_URL=postgres://..."
        )
    signal.signal(signal.SIGTERM, _stop_running)
    signal.signal(signal.SIGINT, _stop_running)
    started = time.monotonic()
    jobs = max(1, args.jobs)
    print(f"[mutation] {len(mutants)} mutants in {len(modules)} modules; {jobs} workers")
    workspaces = [make_workspace(out / f"workspace-{i}") for i in range(jobs)]
    if args.tests:  # the tests are given: no coverage map needed
        cmap = CoverageMap({}, {}, {}, "")
    else:
        cmap = load_or_build_map(
            workspaces[0], modules, database_url, jobs, out, reuse=args.reuse_map
        )
    carried = load_previous(Path(args.previous), sources) if args.previous else {}
    if carried:
        print(f"[mutation] {len(carried)} kills carried over from {args.previous}", flush=True)
    workers = [Worker(i, ws, database_url, out) for i, ws in enumerate(workspaces)]
    free: list[Worker] = list(workers)
    lock = threading.Lock()
    results: list[Result] = []
    done = 0

    def one(mutant: Mutant) -> Result:
        nonlocal done
        source = sources[mutant.path]
        diff = mutant_diff(source, apply(source, mutant))
        result = Result(mutant.id, mutant.path, mutant.line, mutant.operator, NO_COVERAGE)
        result.diff = diff
        if mutant.id in equivalent:
            result.status, result.reason = EQUIVALENT, equivalent[mutant.id]
        elif mutant.id in carried:
            result = carried[mutant.id]
            result.diff = diff
        else:
            tests = args.tests or order_tests(
                cmap.tests_for(mutant, source), mutant.path, cmap.durations
            )
            result.tests = len(tests)
            if tests:
                budget = sum(cmap.durations.get(t, UNKNOWN_DURATION) for t in tests)
                timeout = args.timeout_base + args.timeout_factor * budget
                with lock:
                    worker = free.pop()
                try:
                    status, seconds, failed = worker.run(
                        mutant,
                        source,
                        tests,
                        timeout,
                        stop_first=not args.all_failures,
                        per_test_timeout=max(
                            30.0, 3 * max(cmap.durations.get(t, UNKNOWN_DURATION) for t in tests)
                        ),
                    )
                finally:
                    with lock:
                        free.append(worker)
                result.status, result.seconds, result.killed_by = status, seconds, failed
        with lock:
            done += 1
            print(
                f"[mutation] {done}/{len(mutants)} {result.status:<11} {mutant.id}"
                f" ({result.tests} tests, {result.seconds:.1f}s)",
                flush=True,
            )
        return result

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(one, mutants))
    elapsed = time.monotonic() - started
    stale = sorted(set(equivalent) - {m.id for m in mutants}) if not args.select else []
    summary = summarize(results, modules)
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "durationSeconds": round(elapsed),
        "jobs": jobs,
        "machine": machine(),
        "modules": modules,
        "operators": list(operators),
        "staleEquivalent": stale,
        "sources": {m: hashlib.sha256(sources[m].encode()).hexdigest() for m in modules},
        "carriedOver": len(carried),
    }
    (out / "results.json").write_text(
        json.dumps(
            {"meta": meta, "summary": summary, "mutants": [asdict(r) for r in results]},
            indent=1,
        ),
        encoding="utf-8",
    )
    text = render_report(meta, summary, results)
    (out / "report.md").write_text(text, encoding="utf-8")
    print(text)
    total = summary["total"]
    if any(r.status == ERROR for r in results):
        print("[mutation] some mutant runs errored (pytest usage error): see the logs")
        return 2
    if args.fail_under and total["score"] < args.fail_under:
        print(f"[mutation] score {total['score']:.1f}% is under {args.fail_under}%")
        return 1
    return 0


def load_previous(path: Path, sources: dict[str, str]) -> dict[str, Result]:
    """Kills of an earlier run whose module is unchanged (tests were only added since)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    same = {
        m
        for m, sha in raw["meta"].get("sources", {}).items()
        if m in sources and hashlib.sha256(sources[m].encode()).hexdigest() == sha
    }
    carried: dict[str, Result] = {}
    for item in raw["mutants"]:
        if item["path"] in same and item["status"] in (KILLED, TIMEOUT):
            result = Result(**item)
            result.reason = f"carried over from the run of {raw['meta']['date']}"
            carried[result.id] = result
    return carried


def machine() -> str:
    cpus = os.cpu_count() or 0
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = "unknown CPU"
    return f"{cpus} CPUs ({model}), Python {sys.version.split()[0]}"


def summarize(results: Sequence[Result], modules: Sequence[str]) -> dict[str, dict[str, Any]]:
    def row(items: Sequence[Result]) -> dict[str, Any]:
        counts = {
            s: sum(1 for r in items if r.status == s)
            for s in (KILLED, TIMEOUT, SURVIVED, NO_COVERAGE, EQUIVALENT, ERROR)
        }
        scored = len(items) - counts[EQUIVALENT]
        caught = counts[KILLED] + counts[TIMEOUT]
        return {
            "mutants": len(items),
            **counts,
            "score": round(100.0 * caught / scored, 1) if scored else 100.0,
        }

    summary = {m: row([r for r in results if r.path == m]) for m in modules}
    summary["total"] = row(list(results))
    return summary


def render_report(
    meta: dict[str, Any], summary: dict[str, dict[str, Any]], results: Sequence[Result]
) -> str:
    lines = [
        f"# Mutation run {meta['date']}",
        "",
        f"{meta['machine']}; {meta['jobs']} workers; {meta['durationSeconds']} s",
        "",
        "| module | mutants | killed | timeout | survived | no coverage | equivalent | kill rate |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for module, row in summary.items():
        name = "**total**" if module == "total" else f"`{module}`"
        lines.append(
            f"| {name} | {row['mutants']} | {row['killed']} | {row['timeout']} |"
            f" {row['survived']} | {row['no_coverage']} | {row['equivalent']} |"
            f" {row['score']:.1f}% |"
        )
    lines += ["", "Kill rate = (killed + timeout) / (mutants - equivalent).", ""]
    alive = [r for r in results if r.status in (SURVIVED, NO_COVERAGE, ERROR)]
    if alive:
        lines += ["## Surviving mutants", ""]
        for r in alive:
            lines += [f"- `{r.id}` ({r.status}, {r.tests} tests)", "  ```diff"]
            lines += [f"  {d}" for d in r.diff.splitlines()]
            lines += ["  ```"]
    if meta["staleEquivalent"]:
        lines += ["", "## Stale equivalent entries (no such mutant any more)", ""]
        lines += [f"- `{s}`" for s in meta["staleEquivalent"]]
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.mutation", description=__doc__)
    parser.add_argument(
        "--modules",
        nargs="+",
        default=list(DEFAULT_MODULES),
        help="repository paths of the modules to mutate (space or comma separated)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="mutants run in parallel")
    parser.add_argument("--select", help="only the mutants whose id matches this regex")
    parser.add_argument(
        "--tests", nargs="+", help="run these test node ids for every mutant (no mapping)"
    )
    parser.add_argument(
        "--all-failures",
        action="store_true",
        help="no -x: record every test that kills a mutant (slower)",
    )
    parser.add_argument("--operators", help=f"comma separated subset of {','.join(OPERATORS)}")
    parser.add_argument("--equivalent", default=str(EQUIVALENT_FILE))
    parser.add_argument("--out", default=str(REPO / "var" / "mutation"))
    parser.add_argument("--database-url", help="PostgreSQL URL (default: DATABASE_URL)")
    parser.add_argument(
        "--reuse-map",
        action="store_true",
        help="reuse the last coverage map when the modules and tests are unchanged",
    )
    parser.add_argument("--timeout-base", type=float, default=60.0, help="seconds per mutant")
    parser.add_argument(
        "--timeout-factor", type=float, default=4.0, help="x the selected tests' duration"
    )
    parser.add_argument("--fail-under", type=float, default=0.0, help="exit 1 under this %%")
    parser.add_argument("--list", action="store_true", help="print the mutants and exit")
    parser.add_argument(
        "--previous",
        help="results.json of an earlier run: its kills in unchanged modules are kept, only the"
        " other mutants run (valid while tests are only added, never weakened)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return run(parse_args(argv))
