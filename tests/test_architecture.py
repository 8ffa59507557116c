"""The recipe's structural rules, checked on the code itself (docs/development/recipe.md)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import grimp
import pytest

from aventide.core.principal import Principal
from tools.import_contracts import PublicSurfaceContract

ROOT = Path(__file__).resolve().parents[1]
APPS = ("audit", "aventide.markets", "aventide.accounts", "aventide.ledger", "aventide.orders")


def _service_and_selector_modules() -> list[str]:
    names = []
    for app in APPS:
        for suffix in ("services", "selectors"):
            name = f"{app}.{suffix}"
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError:
                continue
            names.append(name)
            if hasattr(module, "__path__"):  # services/ split by topic
                names += [f"{name}.{m.name}" for m in pkgutil.iter_modules(module.__path__)]
    return names


def test_no_service_or_selector_takes_an_untyped_actor() -> None:
    offenders = []
    for path in ROOT.glob("**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts:
            continue
        if not re.search(r"(services|selectors)", str(path.relative_to(ROOT))):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\b(actor|user|principal)\s*:\s*Any\b", line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}")
    assert offenders == []


@pytest.mark.parametrize("module_name", _service_and_selector_modules())
def test_every_actor_parameter_is_a_principal(module_name: str) -> None:
    module = importlib.import_module(module_name)
    for name, function in inspect.getmembers(module, inspect.isfunction):
        if function.__module__ != module.__name__ or name.startswith("_"):
            continue
        hints = inspect.get_annotations(function, eval_str=True)
        if "actor" in hints:  # the acting principal, or an optional override of the frame's
            assert hints["actor"] in (Principal, Principal | None), f"{module_name}.{name}"


def _contract() -> PublicSurfaceContract:
    return PublicSurfaceContract(
        name="test",
        session_options={},
        contract_options={
            "apps": ["shop.billing", "shop.orders"],
            "public": ["services", "selectors", "errors", "contracts"],
            "also_public": ["shop.billing.policy"],
            "exempt": ["shop.urls"],
        },
    )


def _graph(*imports: tuple[str, str]) -> grimp.ImportGraph:
    graph = grimp.ImportGraph()
    for module in (
        "shop",
        "shop.urls",
        "shop.billing",
        "shop.billing.models",
        "shop.billing.services",
        "shop.billing.policy",
        "shop.orders",
        "shop.orders.services",
    ):
        graph.add_module(module)
    for importer, imported in imports:
        graph.add_import(
            importer=importer, imported=imported, line_number=1, line_contents="import x"
        )
    return graph


def test_public_surface_contract_refuses_an_import_of_another_apps_internals() -> None:
    broken = _contract().check(_graph(("shop.orders.services", "shop.billing.models")), False)
    assert not broken.kept
    assert broken.metadata["violations"][0]["imported"] == "shop.billing.models"


def test_public_surface_contract_allows_public_modules_own_internals_and_the_root() -> None:
    kept = _contract().check(
        _graph(
            ("shop.orders.services", "shop.billing.services"),
            ("shop.orders.services", "shop.billing.policy"),
            ("shop.billing.services", "shop.billing.models"),  # its own insides
            ("shop.urls", "shop.billing.models"),  # the composition root
        ),
        False,
    )
    assert kept.kept, kept.metadata
