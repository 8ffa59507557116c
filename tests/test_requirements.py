"""`make run` installs requirements.txt only: every third-party module the application imports
must be pinned there, not just in requirements-dev.txt (httpx was dev-only for three days,
and `make run` on a fresh clone failed at the demo seed with ModuleNotFoundError)."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the application's packages (what the web, worker and beat processes import)
APPS = ("aventide", "audit", "integrations", "messaging", "realtime", "support")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pinned(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(_normalise(re.split(r"[\[=<>~ ;]", line, maxsplit=1)[0]))
    return names


def _third_party_imports() -> dict[str, set[str]]:
    first_party = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    found: dict[str, set[str]] = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".", 1)[0]
                    if top not in sys.stdlib_module_names and top not in first_party:
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_module_the_application_imports_is_a_runtime_requirement() -> None:
    pinned = _pinned(ROOT / "requirements.txt")
    distributions = packages_distributions()
    missing = {
        module: sorted(files)[:3]
        for module, files in _third_party_imports().items()
        if not any(_normalise(d) in pinned for d in distributions.get(module, [module]))
    }
    assert not missing, f"imported by the application but not pinned in requirements.txt: {missing}"


def test_the_check_sees_the_imports() -> None:
    imports = _third_party_imports()
    # a sample of what the application does import: the check is not vacuous
    assert {"django", "rest_framework", "httpx", "psycopg", "celery"} <= set(imports)
